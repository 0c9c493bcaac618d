//! rpm's own "ndb" package database, `Packages.db` (SUSE, rpm ≥ 4.16 builds without
//! Berkeley DB).
//!
//! All integers are little-endian. The file starts with slot pages (4096 bytes each, their
//! count in the header): a 32-byte header (magic `RpmP`, version 0, generation, number of
//! slot pages, next package index), then 16-byte slots (magic `Slot`, package index, block
//! offset, block count). A used slot points, in 16-byte blocks, at a blob: a 16-byte head
//! (magic `BlbS`, package index, generation, length), the header blob, and a tail.

const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const HEADER_SIZE: usize = 32;
const SLOT_SIZE: usize = 16;
const BLOCK_SIZE: usize = 16;
const PAGE_SIZE: usize = 4096;
const BLOB_HEAD: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NdbError {
    #[error("not an rpm ndb database")]
    NotNdb,
    #[error("unsupported ndb version {0}")]
    Version(u32),
    #[error("slot area of {0} pages does not fit the file")]
    SlotPages(u32),
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Calls `f` with every package header blob, in slot order. A slot whose blob is out of
/// bounds or does not carry its package's index is passed over.
pub fn for_each_blob(data: &[u8], mut f: impl FnMut(&[u8])) -> Result<(), NdbError> {
    if data.len() < HEADER_SIZE || le32(data, 0) != HEADER_MAGIC {
        return Err(NdbError::NotNdb);
    }
    let version = le32(data, 4);
    if version != 0 {
        return Err(NdbError::Version(version));
    }
    let slot_pages = le32(data, 12);
    let slot_end = (slot_pages as usize)
        .checked_mul(PAGE_SIZE)
        .filter(|&end| slot_pages > 0 && end <= data.len())
        .ok_or(NdbError::SlotPages(slot_pages))?;
    let mut budget = data.len();
    for slot in data[HEADER_SIZE..slot_end].chunks_exact(SLOT_SIZE) {
        let pkg_index = le32(slot, 4);
        if le32(slot, 0) != SLOT_MAGIC || pkg_index == 0 {
            continue;
        }
        let start = le32(slot, 8) as usize * BLOCK_SIZE;
        let blocks = le32(slot, 12) as usize * BLOCK_SIZE;
        let Some(area) = start
            .checked_add(blocks)
            .and_then(|end| data.get(start..end))
        else {
            continue;
        };
        if area.len() < BLOB_HEAD || le32(area, 0) != BLOB_MAGIC || le32(area, 4) != pkg_index {
            continue;
        }
        let len = le32(area, 12) as usize;
        if let Some(blob) = area.get(BLOB_HEAD..BLOB_HEAD.saturating_add(len)) {
            // Slots of a sound database point at distinct blobs: more than the file's size
            // in total means slots share blobs, and the rest is not read.
            if blob.len() > budget {
                break;
            }
            budget -= blob.len();
            f(blob);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(blobs: &[&[u8]]) -> Vec<u8> {
        let mut db = vec![0u8; PAGE_SIZE];
        db[0..4].copy_from_slice(&HEADER_MAGIC.to_le_bytes());
        db[12..16].copy_from_slice(&1u32.to_le_bytes());
        for (i, blob) in blobs.iter().enumerate() {
            let block = db.len() / BLOCK_SIZE;
            let mut area = Vec::new();
            area.extend_from_slice(&BLOB_MAGIC.to_le_bytes());
            area.extend_from_slice(&(i as u32 + 1).to_le_bytes());
            area.extend_from_slice(&0u32.to_le_bytes());
            area.extend_from_slice(&(blob.len() as u32).to_le_bytes());
            area.extend_from_slice(blob);
            area.extend_from_slice(&[0u8; 12]);
            while area.len() % BLOCK_SIZE != 0 {
                area.push(0);
            }
            let slot = HEADER_SIZE + i * SLOT_SIZE;
            db[slot..slot + 4].copy_from_slice(&SLOT_MAGIC.to_le_bytes());
            db[slot + 4..slot + 8].copy_from_slice(&(i as u32 + 1).to_le_bytes());
            db[slot + 8..slot + 12].copy_from_slice(&(block as u32).to_le_bytes());
            db[slot + 12..slot + 16]
                .copy_from_slice(&((area.len() / BLOCK_SIZE) as u32).to_le_bytes());
            db.extend(area);
        }
        db
    }

    #[test]
    fn reads_blobs_in_slot_order() {
        let db = database(&[b"first", b"second blob"]);
        let mut got = Vec::new();
        for_each_blob(&db, |b| got.push(b.to_vec())).unwrap();
        assert_eq!(got, vec![b"first".to_vec(), b"second blob".to_vec()]);
    }

    #[test]
    fn hostile_databases_never_panic() {
        assert_eq!(for_each_blob(b"RpmP", |_| {}), Err(NdbError::NotNdb));
        let db = database(&[b"first", b"second blob"]);
        let mut huge = db.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            for_each_blob(&huge, |_| {}),
            Err(NdbError::SlotPages(u32::MAX))
        );
        for at in (0..HEADER_SIZE + 2 * SLOT_SIZE).chain(PAGE_SIZE..db.len()) {
            for byte in [0x00, 0xff, 0x80] {
                let mut bad = db.clone();
                bad[at] = byte;
                let _ = for_each_blob(&bad, |_| {});
            }
        }
        for cut in 0..db.len() {
            let _ = for_each_blob(&db[..cut], |_| {});
        }
    }

    #[test]
    fn slots_sharing_one_blob_are_not_read_again_and_again() {
        let big = vec![7u8; 3 * PAGE_SIZE];
        let mut db = database(&[&big]);
        let first_slot = db[HEADER_SIZE..HEADER_SIZE + SLOT_SIZE].to_vec();
        for i in 1..200 {
            let at = HEADER_SIZE + i * SLOT_SIZE;
            db[at..at + SLOT_SIZE].copy_from_slice(&first_slot);
        }
        let mut n = 0;
        for_each_blob(&db, |_| n += 1).unwrap();
        assert_eq!(n, 1);
    }
}
