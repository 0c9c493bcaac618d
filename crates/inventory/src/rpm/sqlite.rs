//! rpm's SQLite database, `rpmdb.sqlite` (rpm ≥ 4.16: Fedora 33+, RHEL 9, CBL-Mariner):
//! table `Packages (hnum INTEGER PRIMARY KEY, blob BLOB)`.
//!
//! SQLite reads the bytes from memory (`sqlite3_deserialize`, read-only): nothing is
//! written to disk, and SQLite treats a malformed file as an error, not as a crash. Only
//! the main database file is in a layer's copy; transactions still in a `-wal` file beside
//! it are not seen (rpm checkpoints when it closes the database).

use rusqlite::{Connection, MAIN_DB, OpenFlags};

const MAGIC: &[u8] = b"SQLite format 3\0";

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("not an SQLite database")]
    NotSqlite,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Calls `f` with every package header blob, in `hnum` order.
pub fn for_each_blob(data: &[u8], mut f: impl FnMut(&[u8])) -> Result<(), SqliteError> {
    if !data.starts_with(MAGIC) {
        return Err(SqliteError::NotSqlite);
    }
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // rpm runs its database in WAL mode (header bytes 18 and 19 are 2), which SQLite cannot
    // open from memory; read as the rollback-journal format (1) the same pages are whole.
    let mut head = [0u8; 100];
    let head_len = data.len().min(head.len());
    head[..head_len].copy_from_slice(&data[..head_len]);
    if head_len == head.len() && head[18] == 2 && head[19] == 2 {
        head[18] = 1;
        head[19] = 1;
    }
    let reader = std::io::Read::chain(&head[..head_len], &data[head_len..]);
    conn.deserialize_read_exact(MAIN_DB, reader, data.len(), true)?;
    let mut statement = conn.prepare("SELECT blob FROM Packages ORDER BY hnum")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        if let Ok(blob) = row.get_ref(0).and_then(|v| Ok(v.as_blob()?)) {
            f(blob);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(blobs: &[&[u8]]) -> Vec<u8> {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
        )
        .unwrap();
        for (i, blob) in blobs.iter().enumerate().rev() {
            conn.execute(
                "INSERT INTO Packages (hnum, blob) VALUES (?1, ?2)",
                rusqlite::params![i as i64 + 1, blob],
            )
            .unwrap();
        }
        conn.serialize(MAIN_DB).unwrap().to_vec()
    }

    #[test]
    fn reads_blobs_in_hnum_order() {
        let db = database(&[b"one", b"two"]);
        let mut got = Vec::new();
        for_each_blob(&db, |b| got.push(b.to_vec())).unwrap();
        assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn hostile_databases_are_errors() {
        assert!(matches!(
            for_each_blob(b"", |_| {}),
            Err(SqliteError::NotSqlite)
        ));
        assert!(for_each_blob(MAGIC, |_| {}).is_err());
        let db = database(&[b"one", b"two"]);
        for cut in (MAGIC.len()..db.len()).step_by(97) {
            let _ = for_each_blob(&db[..cut], |_| {});
        }
        let mut bad = db.clone();
        for (i, b) in bad.iter_mut().enumerate().skip(100) {
            *b ^= (i % 251) as u8;
        }
        let _ = for_each_blob(&bad, |_| {});
    }
}
