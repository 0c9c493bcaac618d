//! Package databases: dpkg status and status.d, apk, rpm (BerkeleyDB, NDB, SQLite), and
//! Debian copyright files. The first byte picks the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_inventory::{apk, copyright, dpkg, rpm};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => drop(dpkg::parse(rest, dpkg::Layout::Status)),
        1 => drop(dpkg::parse(rest, dpkg::Layout::StatusD)),
        2 => drop(apk::parse(rest)),
        3 => drop(rpm::records(rest, rpm::Backend::BerkeleyDb)),
        4 => drop(rpm::records(rest, rpm::Backend::Ndb)),
        5 => drop(rpm::records(rest, rpm::Backend::Sqlite)),
        _ => drop(copyright::licenses(rest)),
    }
});
