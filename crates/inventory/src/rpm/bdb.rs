//! Berkeley DB hash databases, the format of rpm's `Packages` up to rpm 4.16.
//!
//! Page 0 is the hash metadata page (magic 0x061561, page size, last page). Hash pages
//! (types 2 and 13) hold an index of item offsets after the 26-byte page header; items
//! come in key/data pairs. A value too big for the page (every rpm header) is an
//! "off-page" item naming the first page of a chain of overflow pages (type 7), each
//! holding `hf_offset` bytes after its header and linked through `next_pgno`.
//! Byte order is the creating machine's: the magic says which.

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
/// With checksums on, a 20-byte checksum follows the page header.
const CHECKSUM_SIZE: usize = 20;
const META_FLAG_CHECKSUM: u8 = 0x01;

const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;

const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BdbError {
    #[error("not a Berkeley DB hash database")]
    NotHash,
    #[error("unsupported page size {0}")]
    PageSize(u32),
    #[error("encrypted database")]
    Encrypted,
}

#[derive(Clone, Copy)]
struct Layout {
    big_endian: bool,
    page_size: usize,
    overhead: usize,
}

impl Layout {
    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
    fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
}

/// Calls `f` with every value of the database, in page order. Values that cannot be read
/// (a broken overflow chain, an offset outside its page) are passed over: rpm itself skips
/// a damaged header and goes on.
pub fn for_each_value(data: &[u8], mut f: impl FnMut(&[u8])) -> Result<(), BdbError> {
    if data.len() < 512 {
        return Err(BdbError::NotHash);
    }
    let magic_le = u32::from_le_bytes([data[12], data[13], data[14], data[15]]);
    let magic_be = u32::from_be_bytes([data[12], data[13], data[14], data[15]]);
    let big_endian = match (magic_le, magic_be) {
        (HASH_MAGIC, _) => false,
        (_, HASH_MAGIC) => true,
        _ => return Err(BdbError::NotHash),
    };
    if data[25] != P_HASHMETA {
        return Err(BdbError::NotHash);
    }
    if data[24] != 0 {
        return Err(BdbError::Encrypted);
    }
    let mut layout = Layout {
        big_endian,
        page_size: 0,
        overhead: PAGE_HEADER,
    };
    let page_size = layout.u32(&data[20..24]);
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(BdbError::PageSize(page_size));
    }
    layout.page_size = page_size as usize;
    if data[26] & META_FLAG_CHECKSUM != 0 {
        layout.overhead += CHECKSUM_SIZE;
    }

    let pages = data.len() / layout.page_size;
    let mut value = Vec::new();
    // A sound database stores each overflow page in one value: reading more than twice
    // the file means values share chains, a hostile loop through the same pages.
    let mut budget = data.len().saturating_mul(2);
    for pgno in 1..pages {
        let page = &data[pgno * layout.page_size..(pgno + 1) * layout.page_size];
        if !matches!(page[25], P_HASH | P_HASH_UNSORTED) {
            continue;
        }
        let entries = layout.u16(&page[20..22]) as usize;
        let index_end = layout.overhead + entries * 2;
        if index_end > layout.page_size {
            continue;
        }
        let offset = |i: usize| layout.u16(&page[layout.overhead + i * 2..]) as usize;
        for pair in 0..entries / 2 {
            let (key_at, data_at) = (offset(pair * 2), offset(pair * 2 + 1));
            if key_at >= layout.page_size || data_at >= layout.page_size {
                continue;
            }
            // Items grow down from the end of the page: an item ends where the one
            // before it in the index starts.
            let key_end = if pair == 0 {
                layout.page_size
            } else {
                offset(pair * 2 - 1)
            };
            let key = page.get(key_at + 1..key_end.max(key_at + 1)).unwrap_or(&[]);
            if page[key_at] == H_KEYDATA && !key.is_empty() && key.iter().all(|&b| b == 0) {
                // Key 0 holds rpm's next free header number, not a header.
                continue;
            }
            match page[data_at] {
                H_KEYDATA => {
                    if let Some(v) = page.get(data_at + 1..key_at) {
                        f(v);
                    }
                }
                H_OFFPAGE => {
                    let Some(item) = page.get(data_at..data_at + 12) else {
                        continue;
                    };
                    let first = layout.u32(&item[4..8]) as usize;
                    let total = layout.u32(&item[8..12]) as usize;
                    if total > budget {
                        return Ok(());
                    }
                    budget -= total;
                    if read_overflow(data, layout, first, total, &mut value) {
                        f(&value);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Follows an overflow chain into `out`; false when the chain is broken. Each page is
/// visited at most once, so a loop ends.
fn read_overflow(
    data: &[u8],
    layout: Layout,
    first: usize,
    total: usize,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let pages = data.len() / layout.page_size;
    if total > data.len() {
        return false;
    }
    let mut pgno = first;
    let mut visited = std::collections::HashSet::new();
    loop {
        if pgno == 0 || pgno >= pages || !visited.insert(pgno) {
            return false;
        }
        let page = &data[pgno * layout.page_size..(pgno + 1) * layout.page_size];
        if page[25] != P_OVERFLOW {
            return false;
        }
        let len = layout.u16(&page[22..24]) as usize;
        let Some(chunk) = page.get(layout.overhead..layout.overhead + len) else {
            return false;
        };
        let take = chunk.len().min(total - out.len());
        out.extend_from_slice(&chunk[..take]);
        if out.len() == total {
            return true;
        }
        pgno = layout.u32(&page[16..20]) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: usize = 512;

    fn page(kind: u8) -> Vec<u8> {
        let mut p = vec![0u8; PS];
        p[25] = kind;
        p
    }

    /// A database with one small on-page value, rpm's key 0, and one header stored
    /// off-page across two overflow pages.
    fn database(value: &[u8]) -> Vec<u8> {
        let mut meta = page(P_HASHMETA);
        meta[12..16].copy_from_slice(&HASH_MAGIC.to_le_bytes());
        meta[20..24].copy_from_slice(&(PS as u32).to_le_bytes());

        let mut hash = page(P_HASH);
        // items from the end: key 0 / "tiny", key 1 / off-page
        let items: Vec<Vec<u8>> = vec![
            vec![H_KEYDATA, 2, 0, 0, 0],
            [vec![H_KEYDATA], b"tiny".to_vec()].concat(),
            vec![H_KEYDATA, 0, 0, 0, 0],
            vec![H_KEYDATA, 9, 0, 0, 0],
            vec![H_KEYDATA, 1, 0, 0, 0],
            {
                let mut off = vec![H_OFFPAGE, 0, 0, 0];
                off.extend_from_slice(&2u32.to_le_bytes());
                off.extend_from_slice(&(value.len() as u32).to_le_bytes());
                off
            },
        ];
        let mut at = PS;
        hash[20..22].copy_from_slice(&(items.len() as u16).to_le_bytes());
        for (i, item) in items.iter().enumerate() {
            at -= item.len();
            hash[at..at + item.len()].copy_from_slice(item);
            hash[PAGE_HEADER + i * 2..PAGE_HEADER + i * 2 + 2]
                .copy_from_slice(&(at as u16).to_le_bytes());
        }
        let room = PS - PAGE_HEADER;
        let mut over1 = page(P_OVERFLOW);
        let first = value.len().min(room);
        over1[16..20].copy_from_slice(&3u32.to_le_bytes());
        over1[22..24].copy_from_slice(&(first as u16).to_le_bytes());
        over1[PAGE_HEADER..PAGE_HEADER + first].copy_from_slice(&value[..first]);
        let mut over2 = page(P_OVERFLOW);
        let rest = &value[first..];
        over2[22..24].copy_from_slice(&(rest.len() as u16).to_le_bytes());
        over2[PAGE_HEADER..PAGE_HEADER + rest.len()].copy_from_slice(rest);
        [meta, hash, over1, over2].concat()
    }

    #[test]
    fn reads_on_page_and_overflow_values() {
        let value: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
        let db = database(&value);
        let mut got = Vec::new();
        for_each_value(&db, |v| got.push(v.to_vec())).unwrap();
        assert_eq!(got, vec![b"tiny".to_vec(), value]);
    }

    #[test]
    fn hostile_databases_never_panic() {
        assert_eq!(for_each_value(b"", |_| {}), Err(BdbError::NotHash));
        assert_eq!(for_each_value(&[0u8; 4096], |_| {}), Err(BdbError::NotHash));
        let value = vec![7u8; 700];
        let db = database(&value);
        // Every truncation, and every single-byte corruption of the hash and overflow
        // pages.
        for cut in (0..db.len()).step_by(7) {
            let _ = for_each_value(&db[..cut], |_| {});
        }
        for at in PS..db.len() {
            for byte in [0x00, 0xff, 0x02, 0x07] {
                let mut bad = db.clone();
                bad[at] = byte;
                let _ = for_each_value(&bad, |_| {});
            }
        }
        // Many values sharing one overflow chain: read until twice the file's size.
        let mut shared = db.clone();
        let hash = &mut shared[PS..2 * PS];
        let entries = 2 * 16;
        hash[20..22].copy_from_slice(&(entries as u16).to_le_bytes());
        let mut at = PS;
        for i in 0..entries {
            let item: Vec<u8> = if i % 2 == 0 {
                vec![H_KEYDATA, 1 + i as u8, 0, 0, 0]
            } else {
                let mut off = vec![H_OFFPAGE, 0, 0, 0];
                off.extend_from_slice(&2u32.to_le_bytes());
                off.extend_from_slice(&700u32.to_le_bytes());
                off
            };
            at -= item.len();
            hash[at..at + item.len()].copy_from_slice(&item);
            hash[PAGE_HEADER + i * 2..PAGE_HEADER + i * 2 + 2]
                .copy_from_slice(&(at as u16).to_le_bytes());
        }
        let mut n = 0;
        for_each_value(&shared, |_| n += 1).unwrap();
        assert_eq!(n, 2 * shared.len() / 700);
        // An overflow chain that loops back on itself.
        let mut looped = db.clone();
        looped[3 * PS + 16..3 * PS + 20].copy_from_slice(&2u32.to_le_bytes());
        looped[3 * PS + 22..3 * PS + 24].copy_from_slice(&0u16.to_le_bytes());
        let mut n = 0;
        for_each_value(&looped, |_| n += 1).unwrap();
        assert_eq!(n, 1, "only the on-page value");
    }
}
