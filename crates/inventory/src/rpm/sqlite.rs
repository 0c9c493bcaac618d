//! rpm's SQLite database, `rpmdb.sqlite` (rpm ≥ 4.16: Fedora 33+, RHEL 9, CBL-Mariner):
//! table `Packages (hnum INTEGER PRIMARY KEY, blob BLOB)`.
//!
//! The file is the image author's: SQLite is pointed at it as at hostile input.
//!
//! - It reads the bytes from memory (`sqlite3_deserialize`, read-only) with temporary
//!   storage in memory too: nothing from the image is written to disk.
//! - The schema is not trusted (`trusted_schema = OFF`), and `Packages` must be a plain
//!   table: a view (which could run a recursive query) or anything else is refused, so no
//!   view, trigger or schema-defined function of the file ever runs.
//! - Memory is capped (`hard_heap_limit`, and a string or blob at most [`MAX_VALUE`] bytes),
//!   and a progress handler stops any statement that runs longer than its share of the
//!   file's size allows ([`instruction_budget`]): time stays linear in the file.
//!
//! Only the main database file is in a layer's copy; transactions still in a `-wal` file
//! beside it are not seen (rpm checkpoints when it closes the database).

use rusqlite::limits::Limit;
use rusqlite::{Connection, MAIN_DB, OpenFlags};

const MAGIC: &[u8] = b"SQLite format 3\0";
/// SQLite's heap, process-wide: the largest rpm database the analyzer captures (256 MiB)
/// and room to read it.
const HEAP_LIMIT: i64 = 320 << 20;
/// The longest string or blob a row may hold (an rpm header is well under 16 MiB).
const MAX_VALUE: i32 = 64 << 20;
/// SQLite calls the progress handler every this many virtual machine instructions.
const PROGRESS_STEP: i32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("not an SQLite database")]
    NotSqlite,
    #[error(
        "its Packages is {0}, not a table: refused (a view or trigger from the image never runs)"
    )]
    NotATable(String),
    #[error("reading it took longer than its size allows: stopped")]
    TooSlow,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// How many progress steps a file of `len` bytes may take: a full read of a real rpmdb takes
/// a few instructions per byte; a hostile query that loops is stopped after this many.
fn instruction_budget(len: usize) -> u64 {
    let instructions = 20_000_000u64.saturating_add((len as u64).saturating_mul(16));
    instructions / PROGRESS_STEP as u64
}

/// Calls `f` with every package header blob, in `hnum` order.
pub fn for_each_blob(data: &[u8], f: impl FnMut(&[u8])) -> Result<(), SqliteError> {
    read_blobs(data, instruction_budget(data.len()), f)
}

fn read_blobs(data: &[u8], budget: u64, mut f: impl FnMut(&[u8])) -> Result<(), SqliteError> {
    if !data.starts_with(MAGIC) {
        return Err(SqliteError::NotSqlite);
    }
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    harden(&mut conn, budget)?;
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
    conn.deserialize_read_exact(MAIN_DB, reader, data.len(), true)
        .map_err(too_slow)?;
    let kind: Option<String> = conn
        .query_row(
            "SELECT type FROM main.sqlite_schema WHERE name = 'Packages' COLLATE NOCASE",
            [],
            |row| row.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(too_slow)?;
    match kind.as_deref() {
        Some("table") | None => {}
        Some(other) => return Err(SqliteError::NotATable(format!("a {other}"))),
    }
    let mut statement = conn
        .prepare("SELECT blob FROM main.Packages ORDER BY hnum")
        .map_err(too_slow)?;
    let mut rows = statement.query([]).map_err(too_slow)?;
    while let Some(row) = rows.next().map_err(too_slow)? {
        if let Ok(blob) = row.get_ref(0).and_then(|v| Ok(v.as_blob()?)) {
            f(blob);
        }
    }
    Ok(())
}

/// Settings made before the image's bytes are attached.
fn harden(conn: &mut Connection, budget: u64) -> Result<(), SqliteError> {
    conn.pragma_update(None, "trusted_schema", false)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "hard_heap_limit", HEAP_LIMIT)?;
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE)?;
    conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, 1 << 20)?;
    conn.set_limit(Limit::SQLITE_LIMIT_EXPR_DEPTH, 64)?;
    conn.set_limit(Limit::SQLITE_LIMIT_COMPOUND_SELECT, 16)?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    conn.set_limit(Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 1)?;
    let mut steps = 0u64;
    conn.progress_handler(
        PROGRESS_STEP,
        Some(move || {
            steps += 1;
            steps > budget
        }),
    )?;
    Ok(())
}

/// An interrupted statement is the progress handler's doing: say so.
fn too_slow(e: rusqlite::Error) -> SqliteError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::OperationInterrupted) => SqliteError::TooSlow,
        _ => SqliteError::Sqlite(e),
    }
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

    fn from_schema(sql: &str) -> Vec<u8> {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(sql).unwrap();
        conn.serialize(MAIN_DB).unwrap().to_vec()
    }

    /// A `Packages` view over a recursive CTE would run forever and spill temporary files:
    /// it is refused before anything runs.
    #[test]
    fn a_view_is_refused_before_it_runs() {
        let db = from_schema(
            "CREATE VIEW Packages AS WITH RECURSIVE r(hnum, blob) AS \
             (SELECT 1, zeroblob(1000) UNION ALL SELECT hnum + 1, blob FROM r) \
             SELECT hnum, blob FROM r ORDER BY blob",
        );
        let started = std::time::Instant::now();
        let err = for_each_blob(&db, |_| {}).unwrap_err();
        assert!(
            matches!(err, SqliteError::NotATable(ref k) if k == "a view"),
            "{err}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// What a table's schema makes SQLite compute is bounded: a value longer than
    /// [`MAX_VALUE`] is an error.
    #[test]
    fn a_table_whose_schema_computes_is_stopped() {
        let db = from_schema(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, \
             blob BLOB GENERATED ALWAYS AS (zeroblob(100000000)) VIRTUAL); \
             INSERT INTO Packages (hnum) VALUES (1);",
        );
        let started = std::time::Instant::now();
        let result = for_each_blob(&db, |_| {});
        assert!(result.is_err(), "a 100 MB generated blob was read");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// A statement that needs more steps than the budget is stopped, and says why.
    #[test]
    fn the_progress_handler_stops_a_long_statement() {
        let blobs: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!("blob {i}").into_bytes())
            .collect();
        let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
        let db = database(&refs);
        let mut seen = 0;
        let err = read_blobs(&db, 1, |_| seen += 1).unwrap_err();
        assert!(matches!(err, SqliteError::TooSlow), "{err}");
        assert!(seen < 2000);
        let mut all = 0;
        for_each_blob(&db, |_| all += 1).unwrap();
        assert_eq!(all, 2000);
    }

    #[test]
    fn the_instruction_budget_grows_with_the_file() {
        assert!(instruction_budget(0) > 0);
        assert!(instruction_budget(100 << 20) > instruction_budget(1 << 20));
    }
}
