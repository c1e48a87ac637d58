//! A minimal tar writer and reader for the Engine's archive endpoints
//! (`PUT`/`GET /containers/{id}/archive`).
//!
//! The writer produces POSIX ustar: regular files and directories with mode,
//! owner ids and mtime; names up to 100 bytes go in the name field, longer
//! ones are split over the 155-byte prefix field at a `/`, and names that do
//! not fit even so are refused (no PAX or GNU extensions are written).
//!
//! The reader returns the regular files of an archive held in memory and
//! skips everything else (directories, links, devices), honouring the PAX
//! `path`/`size` records and GNU long names the Engine may emit. It checks
//! every header checksum, refuses absolute names and `..` components in any
//! entry, and caps the number of entries, each file's size and the total.
//!
//! It owns no I/O and no file system access: bytes in, bytes out. Extracting
//! to disk, ownership policy and streaming are the caller's concern.

use std::fmt;

/// The byte size of a tar block.
const BLOCK: usize = 512;
/// The largest value an 11-digit octal field holds (8 GiB - 1).
const MAX_OCTAL_11: u64 = 0o777_7777_7777;
/// The largest value a 7-digit octal field holds.
const MAX_OCTAL_7: u64 = 0o777_7777;
/// The most bytes of PAX records or a GNU long name the reader accepts.
const MAX_META: u64 = 64 * 1024;

/// Builds an uncompressed ustar archive in memory.
#[derive(Debug, Default)]
pub struct TarWriter {
    out: Vec<u8>,
    uid: u32,
    gid: u32,
}

/// One regular file read from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarFile {
    /// The relative path inside the archive, without a leading `./`.
    pub path: String,
    pub mode: u32,
    pub mtime: u64,
    pub data: Vec<u8>,
}

/// Caps applied while reading an archive.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// The most entries of any kind (headers) the archive may hold.
    pub max_entries: usize,
    /// The largest single regular file.
    pub max_file: u64,
    /// The most bytes of regular-file data in total.
    pub max_total: u64,
}

/// Why an archive could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TarError {
    /// The name is empty, absolute, has a `..`, empty or NUL-bearing part.
    BadName { name: String },
    /// The name does not fit ustar's name and prefix fields.
    NameTooLong { name: String },
    /// A size, entry count or numeric field went past its limit.
    TooLarge { what: &'static str, limit: u64 },
    /// The archive is not well-formed tar.
    Malformed(String),
}

impl TarWriter {
    /// An empty archive whose entries are owned by uid 0, gid 0.
    pub fn new() -> TarWriter {
        TarWriter::default()
    }

    /// Sets the owner recorded for the entries added after this call (the
    /// Engine applies it when it extracts the archive).
    pub fn owner(mut self, uid: u32, gid: u32) -> TarWriter {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Adds a regular file. `mode` is the permission bits (e.g. `0o644`),
    /// `mtime` seconds since the Unix epoch.
    pub fn add_file(&mut self, name: &str, mode: u32, mtime: u64, data: &[u8]) -> Result<(), TarError> {
        let name = check_name(name)?;
        let header = self.header(name, b'0', mode, mtime, data.len() as u64)?;
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(data);
        self.out.resize(self.out.len() + padding(data.len() as u64), 0);
        Ok(())
    }

    /// Adds a directory entry (stored with a trailing `/`).
    pub fn add_dir(&mut self, name: &str, mode: u32, mtime: u64) -> Result<(), TarError> {
        let name = format!("{}/", check_name(name)?);
        let header = self.header(&name, b'5', mode, mtime, 0)?;
        self.out.extend_from_slice(&header);
        Ok(())
    }

    /// Ends the archive with its two zero blocks and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.resize(self.out.len() + 2 * BLOCK, 0);
        self.out
    }

    fn header(&self, name: &str, kind: u8, mode: u32, mtime: u64, size: u64) -> Result<[u8; BLOCK], TarError> {
        let mut h = [0u8; BLOCK];
        let (prefix, short) = split_name(name)?;
        h[..short.len()].copy_from_slice(short.as_bytes());
        put_octal(&mut h[100..108], u64::from(mode & 0o7777), "mode")?;
        put_octal(&mut h[108..116], u64::from(self.uid), "uid")?;
        put_octal(&mut h[116..124], u64::from(self.gid), "gid")?;
        put_octal(&mut h[124..136], size, "file size")?;
        put_octal(&mut h[136..148], mtime, "mtime")?;
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        put_octal(&mut h[329..337], 0, "devmajor")?;
        put_octal(&mut h[337..345], 0, "devminor")?;
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        let sum = checksum(&h);
        // Six octal digits, NUL, space: the traditional layout.
        let digits = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(digits.as_bytes());
        Ok(h)
    }
}

/// The regular files of `tar`, in archive order.
pub fn read_files(tar: &[u8], limits: &ReadLimits) -> Result<Vec<TarFile>, TarError> {
    let mut files = Vec::new();
    let mut pos = 0usize;
    let mut entries = 0usize;
    let mut total = 0u64;
    let mut next_path: Option<String> = None;
    let mut next_size: Option<u64> = None;
    while pos < tar.len() {
        let Some(h) = tar.get(pos..pos + BLOCK) else {
            return Err(TarError::Malformed(format!("truncated header at offset {pos}")));
        };
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let stored = parse_number(&h[148..156], "checksum")?;
        if stored != checksum(h) {
            return Err(TarError::Malformed(format!("header checksum mismatch at offset {pos}")));
        }
        entries += 1;
        if entries > limits.max_entries {
            return Err(TarError::TooLarge { what: "archive entry count", limit: limits.max_entries as u64 });
        }
        let kind = h[156];
        let header_size = parse_number(&h[124..136], "size")?;
        let size =
            if matches!(kind, b'x' | b'g' | b'L') { header_size } else { next_size.take().unwrap_or(header_size) };
        let start = pos + BLOCK;
        let end =
            usize::try_from(size).ok().and_then(|s| start.checked_add(s)).filter(|&e| e <= tar.len()).ok_or_else(
                || TarError::Malformed(format!("entry at offset {pos} runs past the end of the archive")),
            )?;
        let data = &tar[start..end];
        pos = end + padding(size);
        match kind {
            b'x' => {
                let (path, size) = parse_pax(data)?;
                next_path = path.or(next_path);
                next_size = size.or(next_size);
                continue;
            }
            b'g' => continue,
            b'L' => {
                if size > MAX_META {
                    return Err(TarError::TooLarge { what: "GNU long name", limit: MAX_META });
                }
                next_path = Some(String::from_utf8_lossy(cstr(data)).into_owned());
                continue;
            }
            _ => {}
        }
        let raw_name = next_path.take().unwrap_or_else(|| header_name(h));
        let path = check_read_name(&raw_name)?;
        if !matches!(kind, b'0' | b'\0' | b'7') {
            continue;
        }
        if path.is_empty() || path.ends_with('/') {
            return Err(TarError::BadName { name: raw_name });
        }
        if size > limits.max_file {
            return Err(TarError::TooLarge { what: "archive file", limit: limits.max_file });
        }
        total += size;
        if total > limits.max_total {
            return Err(TarError::TooLarge { what: "archive total size", limit: limits.max_total });
        }
        let mode = parse_number(&h[100..108], "mode")? as u32;
        let mtime = parse_number(&h[136..148], "mtime")?;
        files.push(TarFile { path, mode, mtime, data: data.to_vec() });
    }
    Ok(files)
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TarError::BadName { name } => {
                write!(f, "tar entry name {name:?} is not a safe relative path (empty, absolute, `..` or NUL)")
            }
            TarError::NameTooLong { name } => {
                write!(f, "tar entry name {name:?} does not fit ustar's 100-byte name plus 155-byte prefix")
            }
            TarError::TooLarge { what, limit } => write!(f, "{what} exceeds the limit of {limit}"),
            TarError::Malformed(m) => write!(f, "malformed tar archive: {m}"),
        }
    }
}

impl std::error::Error for TarError {}

// ---------------------------------------------------------------------------
// Private helpers.

/// Validates a writer name: relative, no `..`/empty/NUL parts. A trailing
/// `/` is dropped.
fn check_name(name: &str) -> Result<&str, TarError> {
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    let bad = trimmed.is_empty()
        || trimmed.starts_with('/')
        || trimmed.contains('\0')
        || trimmed.split('/').any(|part| part.is_empty() || part == "..");
    if bad {
        return Err(TarError::BadName { name: name.to_string() });
    }
    Ok(trimmed)
}

/// Validates a reader name and removes leading `./` parts.
fn check_read_name(name: &str) -> Result<String, TarError> {
    let mut rest = name;
    while let Some(r) = rest.strip_prefix("./") {
        rest = r;
    }
    if rest == "." {
        rest = "";
    }
    if rest.starts_with('/') || rest.contains('\0') || rest.split('/').any(|part| part == "..") {
        return Err(TarError::BadName { name: name.to_string() });
    }
    Ok(rest.to_string())
}

/// Splits `name` into (prefix, name) fields: the whole name when it fits 100
/// bytes, else at the first `/` that leaves at most 155 and 100 bytes.
fn split_name(name: &str) -> Result<(&str, &str), TarError> {
    if name.len() <= 100 {
        return Ok(("", name));
    }
    for (i, _) in name.match_indices('/') {
        let (prefix, short) = (&name[..i], &name[i + 1..]);
        if prefix.len() <= 155 && !short.is_empty() && short.len() <= 100 {
            return Ok((prefix, short));
        }
        if prefix.len() > 155 {
            break;
        }
    }
    Err(TarError::NameTooLong { name: name.to_string() })
}

/// Writes `value` as zero-padded octal digits filling all but the last byte
/// of `field`, which stays NUL.
fn put_octal(field: &mut [u8], value: u64, what: &'static str) -> Result<(), TarError> {
    let digits = field.len() - 1;
    let max = if digits == 11 { MAX_OCTAL_11 } else { MAX_OCTAL_7 };
    if value > max {
        return Err(TarError::TooLarge { what, limit: max });
    }
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    Ok(())
}

/// Parses an octal field (NUL/space padded) or a GNU base-256 one (high bit
/// of the first byte set; negative values refused).
fn parse_number(field: &[u8], what: &str) -> Result<u64, TarError> {
    let bad = || TarError::Malformed(format!("bad {what} field {:?}", String::from_utf8_lossy(field)));
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        if field[0] == 0xff {
            return Err(bad());
        }
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n.checked_mul(256).and_then(|n| n.checked_add(u64::from(b))).ok_or_else(bad)?;
        }
        return Ok(n);
    }
    let text = field.split(|&b| b == 0).next().unwrap_or_default().trim_ascii();
    if text.is_empty() {
        return Ok(0);
    }
    let mut n: u64 = 0;
    for &b in text {
        if !(b'0'..=b'7').contains(&b) {
            return Err(bad());
        }
        n = n.checked_mul(8).and_then(|n| n.checked_add(u64::from(b - b'0'))).ok_or_else(bad)?;
    }
    Ok(n)
}

/// The header checksum: the unsigned byte sum with the checksum field read as
/// eight spaces.
fn checksum(h: &[u8]) -> u64 {
    h.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) }).sum()
}

/// Zero bytes after `size` bytes of data up to the next block boundary.
fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// The bytes of a NUL-terminated field.
fn cstr(field: &[u8]) -> &[u8] {
    field.split(|&b| b == 0).next().unwrap_or_default()
}

/// The entry name of a header: the ustar prefix joined to the name field.
fn header_name(h: &[u8]) -> String {
    let name = String::from_utf8_lossy(cstr(&h[..100]));
    let prefix = if &h[257..262] == b"ustar" { cstr(&h[345..500]) } else { &[] };
    if prefix.is_empty() { name.into_owned() } else { format!("{}/{name}", String::from_utf8_lossy(prefix)) }
}

/// The `path` and `size` records of a PAX extended header.
fn parse_pax(mut data: &[u8]) -> Result<(Option<String>, Option<u64>), TarError> {
    if data.len() as u64 > MAX_META {
        return Err(TarError::TooLarge { what: "PAX header", limit: MAX_META });
    }
    let bad = || TarError::Malformed("bad PAX record".into());
    let (mut path, mut size) = (None, None);
    while !data.is_empty() {
        let space = data.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&data[..space]).ok().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &data[space + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => path = Some(String::from_utf8_lossy(value).into_owned()),
            b"size" => {
                let text = std::str::from_utf8(value).map_err(|_| bad())?;
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                size = Some(text.parse().map_err(|_| bad())?);
            }
            _ => {}
        }
        data = &data[len..];
    }
    Ok((path, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ReadLimits = ReadLimits { max_entries: 100, max_file: 1 << 20, max_total: 1 << 21 };

    /// A header block built by hand, for entry kinds the writer never emits.
    fn raw_header(name: &str, kind: u8, size: u64) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        put_octal(&mut h[100..108], 0o644, "mode").unwrap();
        put_octal(&mut h[124..136], size, "size").unwrap();
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum = checksum(&h);
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    fn entry(name: &str, kind: u8, data: &[u8]) -> Vec<u8> {
        let mut v = raw_header(name, kind, data.len() as u64).to_vec();
        v.extend_from_slice(data);
        v.resize(v.len() + padding(data.len() as u64), 0);
        v
    }

    #[test]
    fn round_trips_files_and_dirs() {
        let mut w = TarWriter::new().owner(1000, 1000);
        w.add_dir("dir", 0o755, 1_700_000_000).unwrap();
        w.add_file("dir/a.txt", 0o644, 1_700_000_001, b"hello").unwrap();
        w.add_file("empty", 0o600, 0, b"").unwrap();
        let block = vec![7u8; 512];
        w.add_file("dir/block", 0o755, 5, &block).unwrap();
        let tar = w.finish();
        assert_eq!(tar.len() % BLOCK, 0);
        assert_eq!(tar.len(), BLOCK * (1 + 2 + 1 + 2 + 2));
        let files = read_files(&tar, &LIMITS).unwrap();
        assert_eq!(
            files,
            vec![
                TarFile { path: "dir/a.txt".into(), mode: 0o644, mtime: 1_700_000_001, data: b"hello".to_vec() },
                TarFile { path: "empty".into(), mode: 0o600, mtime: 0, data: vec![] },
                TarFile { path: "dir/block".into(), mode: 0o755, mtime: 5, data: block },
            ]
        );
    }

    #[test]
    fn header_layout_and_checksum() {
        let mut w = TarWriter::new().owner(1000, 100);
        w.add_file("a.txt", 0o644, 0o12345, b"hi").unwrap();
        let tar = w.finish();
        let h = &tar[..BLOCK];
        assert_eq!(&h[..6], b"a.txt\0");
        assert_eq!(&h[100..108], b"0000644\0");
        assert_eq!(&h[108..116], b"0001750\0");
        assert_eq!(&h[116..124], b"0000144\0");
        assert_eq!(&h[124..136], b"00000000002\0");
        assert_eq!(&h[136..148], b"00000012345\0");
        assert_eq!(h[156], b'0');
        assert_eq!(&h[257..265], b"ustar\x0000");
        // The stored checksum is the byte sum with the field as spaces.
        let stored = std::str::from_utf8(&h[148..154]).unwrap();
        assert_eq!(u64::from_str_radix(stored, 8).unwrap(), checksum(h));
        assert_eq!(&h[154..156], b"\0 ");
        let by_hand: u64 = h[..148].iter().chain(&h[156..]).map(|&b| u64::from(b)).sum::<u64>() + 8 * 32;
        assert_eq!(checksum(h), by_hand);
        // A flipped byte is caught.
        let mut bad = tar.clone();
        bad[0] = b'b';
        assert!(matches!(read_files(&bad, &LIMITS), Err(TarError::Malformed(m)) if m.contains("checksum")));
    }

    #[test]
    fn long_names_use_the_prefix_field() {
        let dir = "d".repeat(120);
        let name = format!("{dir}/{}", "f".repeat(90));
        let mut w = TarWriter::new();
        w.add_file(&name, 0o644, 0, b"x").unwrap();
        let tar = w.finish();
        assert_eq!(&tar[345..465], dir.as_bytes());
        assert_eq!(read_files(&tar, &LIMITS).unwrap()[0].path, name);

        let mut w = TarWriter::new();
        let exact = "e".repeat(100);
        w.add_file(&exact, 0o644, 0, b"").unwrap();
        assert_eq!(read_files(&w.finish(), &LIMITS).unwrap()[0].path, exact);
    }

    #[test]
    fn refuses_names_that_do_not_fit() {
        let mut w = TarWriter::new();
        // No slash to split at.
        let e = w.add_file(&"x".repeat(101), 0o644, 0, b"").unwrap_err();
        assert!(matches!(e, TarError::NameTooLong { .. }));
        // Last part longer than 100.
        let e = w.add_file(&format!("a/{}", "x".repeat(101)), 0o644, 0, b"").unwrap_err();
        assert!(matches!(e, TarError::NameTooLong { .. }));
        // Prefix longer than 155.
        let e = w.add_file(&format!("{}/b", "p".repeat(156 + 100)), 0o644, 0, b"").unwrap_err();
        assert!(matches!(e, TarError::NameTooLong { .. }));
        // The longest name that fits: 155 + '/' + 100.
        w.add_file(&format!("{}/{}", "p".repeat(155), "n".repeat(100)), 0o644, 0, b"").unwrap();
    }

    #[test]
    fn writer_refuses_unsafe_names() {
        let mut w = TarWriter::new();
        for name in ["", "/abs", "../up", "a/../b", "a//b", "a\0b", "/"] {
            assert!(matches!(w.add_file(name, 0o644, 0, b""), Err(TarError::BadName { .. })), "{name:?}");
        }
        assert!(matches!(w.add_dir("..", 0o755, 0), Err(TarError::BadName { .. })));
        w.add_dir("ok/", 0o755, 0).unwrap();
        assert!(matches!(w.add_file("m", 0o644, MAX_OCTAL_11 + 1, b""), Err(TarError::TooLarge { what: "mtime", .. })));
        let mut w = TarWriter::new().owner(u32::MAX, 0);
        assert!(matches!(w.add_file("u", 0o644, 0, b""), Err(TarError::TooLarge { what: "uid", .. })));
    }

    #[test]
    fn reader_rejects_traversal_and_absolute_names() {
        for name in ["../etc/passwd", "/etc/passwd", "a/../../b", "./../x"] {
            let mut tar = entry(name, b'0', b"x");
            tar.extend([0u8; 1024]);
            assert!(matches!(read_files(&tar, &LIMITS), Err(TarError::BadName { .. })), "{name}");
        }
        // Even on an entry that would be skipped.
        let tar = entry("../dir/", b'5', b"");
        assert!(matches!(read_files(&tar, &LIMITS), Err(TarError::BadName { .. })));
        // Leading ./ is normalised away.
        let tar = entry("./a/b", b'0', b"y");
        assert_eq!(read_files(&tar, &LIMITS).unwrap()[0].path, "a/b");
    }

    #[test]
    fn reader_skips_non_regular_entries() {
        let mut tar = entry("dir/", b'5', b"");
        tar.extend(entry("link", b'2', b""));
        tar.extend(entry("hard", b'1', b""));
        tar.extend(entry("fifo", b'6', b""));
        tar.extend(entry("dir/file", b'\0', b"old-style regular"));
        let files = read_files(&tar, &LIMITS).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].data, b"old-style regular");
    }

    #[test]
    fn reader_honours_pax_and_gnu_long_names() {
        let long = format!("{}/file.txt", "deep/".repeat(60));
        let record = format!(" path={long}\n");
        let len = record.len() + (record.len() + 3).to_string().len();
        let pax = format!("{len}{record}");
        assert_eq!(pax.len(), len);
        let mut tar = entry("PaxHeaders/x", b'x', pax.as_bytes());
        tar.extend(entry("short-name", b'0', b"pax data"));
        let mut gnu_name = b"gnu/long/name".to_vec();
        gnu_name.push(0);
        tar.extend(entry("././@LongLink", b'L', &gnu_name));
        tar.extend(entry("truncated-name", b'0', b"gnu data"));
        tar.extend(entry("global", b'g', b"11 path=x\n"));
        let files = read_files(&tar, &LIMITS).unwrap();
        assert_eq!(files[0].path, long);
        assert_eq!(files[0].data, b"pax data");
        assert_eq!(files[1].path, "gnu/long/name");

        let bad = entry("PaxHeaders/x", b'x', b"99 path=x\n");
        assert!(matches!(read_files(&bad, &LIMITS), Err(TarError::Malformed(_))));
    }

    #[test]
    fn reader_caps_and_truncation() {
        let mut w = TarWriter::new();
        w.add_file("a", 0o644, 0, &[1; 100]).unwrap();
        w.add_file("b", 0o644, 0, &[2; 100]).unwrap();
        let tar = w.finish();
        let small = ReadLimits { max_entries: 10, max_file: 99, max_total: 1000 };
        assert!(matches!(read_files(&tar, &small), Err(TarError::TooLarge { what: "archive file", .. })));
        let total = ReadLimits { max_entries: 10, max_file: 100, max_total: 150 };
        assert!(matches!(read_files(&tar, &total), Err(TarError::TooLarge { what: "archive total size", .. })));
        let count = ReadLimits { max_entries: 1, max_file: 100, max_total: 1000 };
        assert!(matches!(read_files(&tar, &count), Err(TarError::TooLarge { what: "archive entry count", .. })));

        // Cut inside the data, inside a header, and a size field claiming
        // far more than is there.
        assert!(matches!(read_files(&tar[..600], &LIMITS), Err(TarError::Malformed(_))));
        assert!(matches!(read_files(&tar[..1100], &LIMITS), Err(TarError::Malformed(_))));
        let huge = raw_header("big", b'0', MAX_OCTAL_11);
        assert!(matches!(read_files(&huge, &LIMITS), Err(TarError::Malformed(_))));
        // No end-of-archive blocks at all is accepted.
        assert_eq!(read_files(&tar[..BLOCK * 4], &LIMITS).unwrap().len(), 2);
        assert!(read_files(&[], &LIMITS).unwrap().is_empty());
    }

    #[test]
    fn parses_numeric_fields() {
        assert_eq!(parse_number(b"0000644\0", "m").unwrap(), 0o644);
        assert_eq!(parse_number(b"  644 \0", "m").unwrap(), 0o644);
        assert_eq!(parse_number(b"\0\0\0\0", "m").unwrap(), 0);
        assert_eq!(parse_number(&[0x80, 0, 0, 0, 0, 0, 1, 0], "m").unwrap(), 256);
        assert!(parse_number(&[0xff, 0xff], "m").is_err());
        assert!(parse_number(b"0009\0", "m").is_err());
        assert!(parse_number(&[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "m").is_err());
    }

    #[test]
    fn never_panics_on_corrupt_archives() {
        let mut w = TarWriter::new();
        w.add_file("a/b", 0o644, 0, b"content").unwrap();
        w.add_dir("a", 0o755, 0).unwrap();
        let tar = w.finish();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..3000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut t = tar.clone();
            let i = (state % t.len() as u64) as usize;
            t[i] = (state >> 32) as u8;
            // Re-seal the checksum now and then so corruption reaches the
            // fields behind it.
            if state.is_multiple_of(2) && i < BLOCK {
                let sum = checksum(&t[..BLOCK]);
                t[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            }
            let _ = read_files(&t, &LIMITS);
            let _ = read_files(&t[..i], &LIMITS);
        }
    }
}
