//! Small, hand-written cryptographic building blocks, with no dependencies.
//!
//! This module owns:
//!
//! - **Hashes:** SHA-256 ([`sha256`], streaming [`Sha256`]), SHA-1 ([`sha1`],
//!   only for the WebSocket handshake of RFC 6455) and HMAC-SHA-256
//!   ([`hmac_sha256`]).
//! - **Encodings:** lowercase hex ([`hex`], [`from_hex`]), standard Base64
//!   with padding ([`base64_encode`], [`base64_decode`]) and URL-safe Base64
//!   without padding ([`base64url_encode`], [`base64url_decode`]), per
//!   RFC 4648.
//! - **Random identifiers:** raw bytes from `/dev/urandom`
//!   ([`random_bytes`]), hex tokens ([`random_hex_token`]) and version 4
//!   UUIDs ([`uuid_v4`]).
//! - **Comparison of secrets:** [`constant_time_eq`].
//!
//! It does **not** do encryption, key exchange, signatures or password
//! hashing, and it makes **no constant-time guarantees** except where a
//! function's documentation states one (only [`constant_time_eq`] does). The
//! hashes and encodings branch and index on their input; they are meant for
//! integrity checks, handshakes and identifiers, not for processing secrets
//! under a side-channel threat model. SHA-1 is broken for collision
//! resistance and is kept only because RFC 6455 requires it.
//!
//! Every primitive is tested against the vectors of the standard that
//! defines it (FIPS 180-4, RFC 3174, RFC 4231, RFC 4648, RFC 6455, RFC 9562).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};

// ---------------------------------------------------------------------------
// Shared Merkle–Damgård padding
// ---------------------------------------------------------------------------

/// The block size, in bytes, of both SHA-1 and SHA-256.
const BLOCK_LEN: usize = 64;

/// Pads the last, partial block of a message and feeds the result to
/// `compress`.
///
/// SHA-1 and SHA-256 share this padding (FIPS 180-4, section 5.1.1): a single
/// `1` bit, then zero bits, then the message length in bits as a 64-bit
/// big-endian integer, so that the total is a multiple of 512 bits. When the
/// tail leaves no room for the 9 bytes of marker and length, the padding
/// spills into a second block.
///
/// `tail` must be shorter than a block; `total_len` is the length of the
/// whole message in bytes.
fn pad_final(tail: &[u8], total_len: u64, mut compress: impl FnMut(&[u8; BLOCK_LEN])) {
    debug_assert!(tail.len() < BLOCK_LEN);
    let mut blocks = [[0u8; BLOCK_LEN]; 2];
    blocks[0][..tail.len()].copy_from_slice(tail);
    blocks[0][tail.len()] = 0x80;
    // The standards bound the message length below 2^64 bits; wrapping keeps
    // this total rather than panicking on an input no caller can produce.
    let bit_len = total_len.wrapping_mul(8).to_be_bytes();
    let used = if tail.len() < BLOCK_LEN - 8 { 1 } else { 2 };
    blocks[used - 1][BLOCK_LEN - 8..].copy_from_slice(&bit_len);
    for block in &blocks[..used] {
        compress(block);
    }
}

/// Reads the big-endian 32-bit words of a block into the first 16 entries of
/// a message schedule.
fn load_words(block: &[u8; BLOCK_LEN], w: &mut [u32]) {
    let (words, _) = block.as_chunks::<4>();
    for (slot, word) in w.iter_mut().zip(words) {
        *slot = u32::from_be_bytes(*word);
    }
}

// ---------------------------------------------------------------------------
// SHA-256 (FIPS 180-4)
// ---------------------------------------------------------------------------

/// The initial hash value of SHA-256 (FIPS 180-4, section 5.3.3).
const SHA256_INIT: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The SHA-256 round constants (FIPS 180-4, section 4.2.2), laid out eight
/// to a row as in the standard.
#[rustfmt::skip]
const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Applies the SHA-256 compression function to one block (FIPS 180-4,
/// section 6.2.2).
fn sha256_compress(state: &mut [u32; 8], block: &[u8; BLOCK_LEN]) {
    let mut w = [0u32; 64];
    load_words(block, &mut w[..16]);
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
    }

    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for (&k, &wt) in SHA256_K.iter().zip(&w) {
        let big_s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(big_s1)
            .wrapping_add(ch)
            .wrapping_add(k)
            .wrapping_add(wt);
        let big_s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = big_s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }

    for (word, add) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *word = word.wrapping_add(add);
    }
}

/// A streaming SHA-256 hasher.
///
/// Feed it any number of [`update`](Self::update) calls, then call
/// [`finish`](Self::finish); the digest equals [`sha256`] of the
/// concatenated input.
///
/// ```
/// use openclaw::crypto::{sha256, Sha256};
///
/// let mut hasher = Sha256::new();
/// hasher.update(b"hello, ");
/// hasher.update(b"world");
/// assert_eq!(hasher.finish(), sha256(b"hello, world"));
/// ```
#[derive(Clone)]
pub struct Sha256 {
    /// The chaining value after every complete block seen so far.
    state: [u32; 8],
    /// Input bytes that do not yet fill a block.
    buf: [u8; BLOCK_LEN],
    /// How many bytes of `buf` are in use; always less than a block.
    buf_len: usize,
    /// The total number of bytes fed in so far.
    total_len: u64,
}

impl Sha256 {
    /// Creates a hasher with nothing fed in yet.
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: SHA256_INIT,
            buf: [0; BLOCK_LEN],
            buf_len: 0,
            total_len: 0,
        }
    }

    /// Feeds more of the message in.
    pub fn update(&mut self, mut data: &[u8]) {
        // A `usize` is at most 64 bits wide on every target Rust supports, so
        // this conversion is lossless.
        self.total_len = self.total_len.wrapping_add(data.len() as u64);

        // First top up a partly filled buffer, and compress it once full.
        if self.buf_len > 0 {
            let take = (BLOCK_LEN - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < BLOCK_LEN {
                return;
            }
            sha256_compress(&mut self.state, &self.buf);
            self.buf_len = 0;
        }

        // Then compress whole blocks straight from the input, and keep the
        // rest for later.
        let (blocks, rest) = data.as_chunks::<BLOCK_LEN>();
        for block in blocks {
            sha256_compress(&mut self.state, block);
        }
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// Pads the message and returns its 32-byte digest.
    #[must_use]
    pub fn finish(mut self) -> [u8; 32] {
        let state = &mut self.state;
        pad_final(&self.buf[..self.buf_len], self.total_len, |block| {
            sha256_compress(state, block);
        });
        let mut out = [0u8; 32];
        for (bytes, word) in out.as_chunks_mut::<4>().0.iter_mut().zip(self.state) {
            *bytes = word.to_be_bytes();
        }
        out
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Sha256 {
    /// Prints no internal state: inside [`hmac_sha256`] that state is derived
    /// from the key, and secrets must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sha256").finish_non_exhaustive()
    }
}

/// Returns the SHA-256 digest of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(data);
    hasher.finish()
}

// ---------------------------------------------------------------------------
// SHA-1 (FIPS 180-4, RFC 3174)
// ---------------------------------------------------------------------------

/// The initial hash value of SHA-1 (FIPS 180-4, section 5.3.1).
const SHA1_INIT: [u32; 5] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];

/// Applies the SHA-1 compression function to one block (FIPS 180-4,
/// section 6.1.2).
fn sha1_compress(state: &mut [u32; 5], block: &[u8; BLOCK_LEN]) {
    let mut w = [0u32; 80];
    load_words(block, &mut w[..16]);
    for t in 16..80 {
        w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
    }

    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for (t, &wt) in w.iter().enumerate() {
        let (f, k) = match t {
            0..20 => ((b & c) | (!b & d), 0x5a827999),
            20..40 => (b ^ c ^ d, 0x6ed9eba1),
            40..60 => ((b & c) | (b & d) | (c & d), 0x8f1bbcdc),
            _ => (b ^ c ^ d, 0xca62c1d6),
        };
        let temp = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(wt);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = temp;
    }

    for (word, add) in state.iter_mut().zip([a, b, c, d, e]) {
        *word = word.wrapping_add(add);
    }
}

/// Returns the SHA-1 digest of `data`.
///
/// SHA-1 is not collision resistant. It is here only because the WebSocket
/// handshake (RFC 6455, section 4.2.2) derives `Sec-WebSocket-Accept` from
/// it; do not use it for anything else.
#[must_use]
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut state = SHA1_INIT;
    let (blocks, tail) = data.as_chunks::<BLOCK_LEN>();
    for block in blocks {
        sha1_compress(&mut state, block);
    }
    // See `Sha256::update` for why this conversion is lossless.
    pad_final(tail, data.len() as u64, |block| {
        sha1_compress(&mut state, block)
    });

    let mut out = [0u8; 20];
    for (bytes, word) in out.as_chunks_mut::<4>().0.iter_mut().zip(state) {
        *bytes = word.to_be_bytes();
    }
    out
}

// ---------------------------------------------------------------------------
// HMAC-SHA-256 (RFC 2104, RFC 4231)
// ---------------------------------------------------------------------------

/// Returns the HMAC-SHA-256 tag of `msg` under `key` (RFC 2104).
///
/// Keys longer than a block (64 bytes) are hashed first, as the RFC requires.
/// To check a tag received from elsewhere, compare it with
/// [`constant_time_eq`], never with `==`.
#[must_use]
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const IPAD: u8 = 0x36;
    const OPAD: u8 = 0x5c;

    // The key, shortened by hashing if needed, then zero-padded to a block.
    let mut block_key = [0u8; BLOCK_LEN];
    if key.len() > BLOCK_LEN {
        block_key[..32].copy_from_slice(&sha256(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }

    let mut inner = Sha256::new();
    inner.update(&block_key.map(|b| b ^ IPAD));
    inner.update(msg);
    let inner_digest = inner.finish();

    let mut outer = Sha256::new();
    outer.update(&block_key.map(|b| b ^ OPAD));
    outer.update(&inner_digest);
    outer.finish()
}

// ---------------------------------------------------------------------------
// Constant-time comparison
// ---------------------------------------------------------------------------

/// Returns whether `a` and `b` hold the same bytes, in time that does not
/// depend on where they differ.
///
/// Use it to check secrets such as gateway tokens or HMAC tags, where an
/// early `==` would tell an attacker, through response timing, how many
/// leading bytes of a guess were right.
///
/// # What is guaranteed
///
/// - If the lengths differ it returns `false` at once: **the length of the
///   secret is not hidden**, only its contents. Compare fixed-length values
///   (for example digests) when the length matters.
/// - If the lengths are equal it reads every byte of both slices and folds
///   the differences into one accumulator, with no branch on the data; the
///   accumulator is passed through [`std::hint::black_box`] so the optimizer
///   is discouraged from turning the loop back into an early exit.
///
/// That is as strong as safe, dependency-free Rust can make it: neither the
/// language nor `black_box` formally promises constant-time machine code,
/// so treat this as a best-effort defence against remote timing attacks,
/// not as a guarantee against an attacker on the same machine.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

// ---------------------------------------------------------------------------
// Hex
// ---------------------------------------------------------------------------

/// The lowercase hex digits, indexed by value.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes `bytes` as lowercase hex, two digits per byte.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes hex into bytes.
///
/// Both lowercase and uppercase digits are accepted. Returns `None` for an
/// odd number of digits or any character that is not a hex digit (including
/// whitespace and a `0x` prefix).
#[must_use]
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let (pairs, odd) = s.as_bytes().as_chunks::<2>();
    if !odd.is_empty() {
        return None;
    }
    pairs
        .iter()
        .map(|&[hi, lo]| Some((hex_value(hi)? << 4) | hex_value(lo)?))
        .collect()
}

/// Returns the value of one hex digit, or `None` if `digit` is not one.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Base64 (RFC 4648)
// ---------------------------------------------------------------------------

/// The standard Base64 alphabet (RFC 4648, section 4).
const BASE64_STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The URL- and filename-safe Base64 alphabet (RFC 4648, section 5).
const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte that is not in an alphabet, in the reverse tables below.
const INVALID: u8 = 0xff;

/// Maps each byte to its value in the standard alphabet, or [`INVALID`].
const BASE64_STANDARD_REVERSE: [u8; 256] = reverse_alphabet(BASE64_STANDARD);

/// Maps each byte to its value in the URL-safe alphabet, or [`INVALID`].
const BASE64_URL_REVERSE: [u8; 256] = reverse_alphabet(BASE64_URL);

/// Builds the decoding table of a Base64 alphabet at compile time.
const fn reverse_alphabet(alphabet: &[u8; 64]) -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        // `i` is below 64, so it fits in a `u8`.
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
}

/// How a Base64 decoder treats `=` padding.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Padding {
    /// The input must be padded to a multiple of four characters.
    Required,
    /// The input may be padded correctly or not padded at all.
    Optional,
}

/// Encodes `data` in Base64 with `alphabet`, padding with `=` if `pad`.
fn base64_encode_with(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    let sextet = |n: u32, shift: u32| char::from(alphabet[((n >> shift) & 0x3f) as usize]);

    let (groups, tail) = data.as_chunks::<3>();
    for &[a, b, c] in groups {
        let n = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
        out.extend([sextet(n, 18), sextet(n, 12), sextet(n, 6), sextet(n, 0)]);
    }
    match *tail {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend([sextet(n, 18), sextet(n, 12)]);
            if pad {
                out.push_str("==");
            }
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend([sextet(n, 18), sextet(n, 12), sextet(n, 6)]);
            if pad {
                out.push('=');
            }
        }
        // `as_chunks::<3>` leaves fewer than three bytes, so this is the
        // empty tail.
        _ => {}
    }
    out
}

/// Decodes Base64 written in the alphabet whose reverse table is `reverse`.
///
/// Rejects characters outside the alphabet (including whitespace and `=`
/// anywhere but at the end), padding that is wrong or missing when required,
/// a final group of a single character, and non-canonical input whose unused
/// trailing bits are not zero, so that every byte string has exactly one
/// accepted encoding.
fn base64_decode_with(s: &str, reverse: &[u8; 256], padding: Padding) -> Option<Vec<u8>> {
    let input = s.as_bytes();
    // Split off the trailing run of `=`; its length is checked below.
    let data_len = input.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let data = &input[..data_len];
    let pad_len = input.len() - data.len();

    if pad_len > 0 {
        // Padding, when present, must complete the last group of four.
        if pad_len > 2 || !input.len().is_multiple_of(4) {
            return None;
        }
    } else if padding == Padding::Required && !data.len().is_multiple_of(4) {
        return None;
    }

    let value = |c: u8| -> Option<u32> {
        match reverse[usize::from(c)] {
            INVALID => None,
            v => Some(u32::from(v)),
        }
    };

    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    let (groups, tail) = data.as_chunks::<4>();
    for &[a, b, c, d] in groups {
        let n = value(a)? << 18 | value(b)? << 12 | value(c)? << 6 | value(d)?;
        out.extend_from_slice(&n.to_be_bytes()[1..]);
    }
    match *tail {
        [a, b] => {
            let n = value(a)? << 18 | value(b)? << 12;
            // Two characters carry 12 bits for one byte; the 4 left over
            // must be zero.
            if n & 0xffff != 0 {
                return None;
            }
            out.push(n.to_be_bytes()[1]);
        }
        [a, b, c] => {
            let n = value(a)? << 18 | value(b)? << 12 | value(c)? << 6;
            // Three characters carry 18 bits for two bytes; the 2 left over
            // must be zero.
            if n & 0xff != 0 {
                return None;
            }
            out.extend_from_slice(&n.to_be_bytes()[1..3]);
        }
        // A single leftover character cannot encode a whole byte.
        [_] => return None,
        // The input was a whole number of groups.
        _ => {}
    }
    Some(out)
}

/// Encodes `data` in standard Base64 (RFC 4648, section 4), with padding.
#[must_use]
pub fn base64_encode(data: &[u8]) -> String {
    base64_encode_with(data, BASE64_STANDARD, true)
}

/// Decodes standard Base64 (RFC 4648, section 4).
///
/// The input must be padded to a multiple of four characters. Returns `None`
/// for characters outside the alphabet (whitespace included), wrong or
/// missing padding, and non-canonical encodings whose unused trailing bits
/// are not zero.
#[must_use]
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    base64_decode_with(s, &BASE64_STANDARD_REVERSE, Padding::Required)
}

/// Encodes `data` in URL-safe Base64 (RFC 4648, section 5), without padding.
#[must_use]
pub fn base64url_encode(data: &[u8]) -> String {
    base64_encode_with(data, BASE64_URL, false)
}

/// Decodes URL-safe Base64 (RFC 4648, section 5).
///
/// Unpadded input is expected, but correctly padded input is accepted too.
/// Returns `None` for characters outside the URL-safe alphabet (so `+` and
/// `/` are rejected), wrong padding, and non-canonical encodings whose unused
/// trailing bits are not zero.
#[must_use]
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    base64_decode_with(s, &BASE64_URL_REVERSE, Padding::Optional)
}

// ---------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------

/// The kernel's non-blocking cryptographic random source.
const URANDOM: &str = "/dev/urandom";

/// Fills `buf` from `/dev/urandom`.
///
/// There is deliberately no fallback: if the kernel source cannot be read,
/// the error is returned (with the path added to its message) rather than
/// handing out predictable tokens.
fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    File::open(URANDOM)
        .and_then(|mut file| file.read_exact(buf))
        .map_err(|err| io::Error::new(err.kind(), format!("reading {URANDOM}: {err}")))
}

/// Returns `N` cryptographically random bytes read from `/dev/urandom`.
///
/// # Errors
///
/// Returns the I/O error if `/dev/urandom` cannot be opened or read; there is
/// no weaker fallback.
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    fill_random(&mut buf)?;
    Ok(buf)
}

/// A random fraction in `[0, 1)` for jitter (not for secrets); 0.5 when
/// `/dev/urandom` cannot be read.
pub fn random_fraction() -> f64 {
    match random_bytes::<8>() {
        Ok(b) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

/// Returns `bytes` random bytes as lowercase hex (`2 * bytes` characters).
///
/// Gateway tokens use 32 bytes, which gives 64 hex characters and 256 bits
/// of entropy.
///
/// # Errors
///
/// Returns the I/O error if `/dev/urandom` cannot be read.
pub fn random_hex_token(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf)?;
    Ok(hex(&buf))
}

/// Returns a random (version 4) UUID, as defined by RFC 9562, section 5.4,
/// in the lowercase `8-4-4-4-12` form, for example
/// `"0f8fad5b-d9cb-469f-a165-70867728950e"`.
///
/// # Errors
///
/// Returns the I/O error if `/dev/urandom` cannot be read.
pub fn uuid_v4() -> io::Result<String> {
    let mut b = random_bytes::<16>()?;
    // The top four bits of octet 6 are the version, 0b0100.
    b[6] = (b[6] & 0x0f) | 0x40;
    // The top two bits of octet 8 are the variant, 0b10.
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(format!(
        "{}-{}-{}-{}-{}",
        hex(&b[0..4]),
        hex(&b[4..6]),
        hex(&b[6..8]),
        hex(&b[8..10]),
        hex(&b[10..16]),
    ))
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-block message of FIPS 180-4 (448 bits).
    const MSG_448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    /// Returns `n` repetitions of the letter `a`.
    fn a_times(n: usize) -> Vec<u8> {
        vec![b'a'; n]
    }

    // --- SHA-256 -----------------------------------------------------------

    #[test]
    fn sha256_fips_180_4_examples() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(MSG_448)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha256(&a_times(1_000_000))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn sha256_empty() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// Lengths around the padding boundaries: 55 bytes is the longest tail
    /// that fits in one final block, 56 spills into a second, and 63, 64 and
    /// 65 straddle a full block. Digests computed with coreutils `sha256sum`.
    #[test]
    fn sha256_padding_boundaries() {
        let cases = [
            (
                55,
                "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            ),
            (
                56,
                "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            ),
            (
                63,
                "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            ),
            (
                64,
                "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            ),
            (
                65,
                "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
            ),
        ];
        for (len, expected) in cases {
            assert_eq!(hex(&sha256(&a_times(len))), expected, "length {len}");
        }
    }

    #[test]
    fn sha256_streaming_matches_one_shot_for_any_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        let expected = sha256(&data);
        for piece in [1, 3, 55, 56, 63, 64, 65, 128, 299, 300] {
            let mut hasher = Sha256::new();
            for chunk in data.chunks(piece) {
                hasher.update(chunk);
            }
            assert_eq!(hasher.finish(), expected, "pieces of {piece} bytes");
        }
        // Empty updates anywhere change nothing.
        let mut hasher = Sha256::default();
        hasher.update(b"");
        hasher.update(&data[..10]);
        hasher.update(b"");
        hasher.update(&data[10..]);
        assert_eq!(hasher.finish(), expected);
    }

    #[test]
    fn sha256_streaming_million_a() {
        let mut hasher = Sha256::new();
        let chunk = a_times(1000);
        for _ in 0..1000 {
            hasher.update(&chunk);
        }
        assert_eq!(
            hex(&hasher.finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn sha256_debug_hides_state() {
        let mut hasher = Sha256::new();
        hasher.update(b"secret");
        assert_eq!(format!("{hasher:?}"), "Sha256 { .. }");
    }

    // --- SHA-1 -------------------------------------------------------------

    #[test]
    fn sha1_rfc_3174_examples() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(MSG_448)),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(&sha1(&a_times(1_000_000))),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    /// The empty message and the padding boundaries, against coreutils
    /// `sha1sum`.
    #[test]
    fn sha1_empty_and_padding_boundaries() {
        let cases = [
            (0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"),
            (56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"),
            (63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"),
            (64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"),
            (65, "11655326c708d70319be2610e8a57d9a5b959d3b"),
        ];
        for (len, expected) in cases {
            assert_eq!(hex(&sha1(&a_times(len))), expected, "length {len}");
        }
    }

    /// The worked example of RFC 6455, section 1.3.
    #[test]
    fn sha1_websocket_accept_rfc_6455() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        let accept = base64_encode(&sha1(format!("{key}{guid}").as_bytes()));
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    // --- HMAC-SHA-256 ------------------------------------------------------

    /// RFC 4231, section 4. Test case 5 checks a truncated tag, which this
    /// API does not offer, so it is left out.
    #[test]
    fn hmac_sha256_rfc_4231() {
        let long_key = [0xaa; 131];
        let cases: [(&[u8], &[u8], &str); 6] = [
            // Test case 1.
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            // Test case 2: a key shorter than the tag.
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            // Test case 3: combined length of key and data over 64 bytes.
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            // Test case 4.
            (
                &[
                    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
                    0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
                ],
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            // Test case 6: a key longer than a block.
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            // Test case 7: a key and data both longer than a block.
            (
                &long_key,
                b"This is a test using a larger than block-size key and a larger \
                  than block-size data. The key needs to be hashed before being \
                  used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (i, (key, msg, expected)) in cases.into_iter().enumerate() {
            assert_eq!(hex(&hmac_sha256(key, msg)), expected, "case index {i}");
        }
    }

    #[test]
    fn hmac_sha256_block_sized_key_is_not_hashed() {
        // A key of exactly 64 bytes is used as is, so it differs from its
        // own hash used as the key.
        let key = [0x42; 64];
        assert_ne!(hmac_sha256(&key, b"m"), hmac_sha256(&sha256(&key), b"m"));
        // A key of 65 bytes is hashed, so it equals its hash used as the key.
        let key = [0x42; 65];
        assert_eq!(hmac_sha256(&key, b"m"), hmac_sha256(&sha256(&key), b"m"));
    }

    // --- Constant-time comparison ------------------------------------------

    #[test]
    fn constant_time_eq_compares_contents_and_length() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"Token"));
        assert!(!constant_time_eq(b"token", b"tokens"));
        assert!(!constant_time_eq(b"", b"x"));
        // Every single-bit difference at every position is caught.
        let base = [0x5a; 16];
        for i in 0..base.len() {
            for bit in 0..8 {
                let mut other = base;
                other[i] ^= 1 << bit;
                assert!(!constant_time_eq(&base, &other), "byte {i}, bit {bit}");
            }
        }
    }

    // --- Hex ---------------------------------------------------------------

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(b""), "");
        assert_eq!(hex(&[0x00, 0x01, 0xab, 0xff]), "0001abff");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&hex(&all)), Some(all));
        assert_eq!(from_hex(""), Some(vec![]));
    }

    #[test]
    fn from_hex_accepts_either_case() {
        assert_eq!(from_hex("DEADbeef"), Some(vec![0xde, 0xad, 0xbe, 0xef]));
    }

    #[test]
    fn from_hex_rejects_bad_input() {
        for bad in ["0", "abc", "0g", "zz", " 00", "00 ", "0x00", "é0", "+1"] {
            assert_eq!(from_hex(bad), None, "{bad:?}");
        }
    }

    // --- Base64 ------------------------------------------------------------

    /// RFC 4648, section 10.
    const RFC_4648_VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn base64_rfc_4648_vectors() {
        for (plain, encoded) in RFC_4648_VECTORS {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn base64url_rfc_4648_vectors() {
        for (plain, padded) in RFC_4648_VECTORS {
            let unpadded = padded.trim_end_matches('=');
            assert_eq!(base64url_encode(plain.as_bytes()), unpadded);
            assert_eq!(
                base64url_decode(unpadded).as_deref(),
                Some(plain.as_bytes())
            );
            // Correct padding is accepted as well.
            assert_eq!(base64url_decode(padded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn base64_alphabets_differ_in_the_last_two_characters() {
        let data = [0xfb, 0xff, 0xbf];
        assert_eq!(base64_encode(&data), "+/+/");
        assert_eq!(base64url_encode(&data), "-_-_");
        assert_eq!(base64_decode("+/+/").as_deref(), Some(&data[..]));
        assert_eq!(base64url_decode("-_-_").as_deref(), Some(&data[..]));
        assert_eq!(base64_decode("-_-_"), None);
        assert_eq!(base64url_decode("+/+/"), None);
    }

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..=67 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)), Some(data.clone()));
            assert_eq!(base64url_decode(&base64url_encode(&data)), Some(data));
        }
    }

    #[test]
    fn base64_decode_rejects_bad_characters() {
        // Each has a valid length and padding, so only the character is wrong.
        for bad in [
            "Zm9v!A==",
            "Zm9v YQ=",
            "Zm9v\nYQ=",
            "Zm=v",
            "=Zm9",
            "Zm9vÿA=",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
            assert_eq!(base64url_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base64_decode_rejects_bad_padding() {
        // Missing, short, excess or lone padding.
        for bad in [
            "Zg", "Zg=", "Zg===", "Zm8", "Zm8==", "Zm9v=", "Zm9v====", "=", "==", "Z",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
        // Unpadded input is fine for the URL-safe decoder, but wrong padding
        // and a lone final character are not.
        assert_eq!(base64url_decode("Zg").as_deref(), Some(&b"f"[..]));
        for bad in [
            "Zg=", "Zg===", "Zm8==", "Zm9v=", "Zm9v====", "=", "==", "Z", "Zm9vY",
        ] {
            assert_eq!(base64url_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base64_decode_rejects_non_canonical_trailing_bits() {
        // "Zh==" and "Zm9=" decode to "f" and "fo" only if the unused low
        // bits of their last character are ignored.
        for bad in ["Zh==", "Zm9="] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
            assert_eq!(base64url_decode(bad), None, "{bad:?}");
            assert_eq!(base64url_decode(bad.trim_end_matches('=')), None, "{bad:?}");
        }
    }

    // --- Randomness --------------------------------------------------------

    #[test]
    fn random_bytes_differ_between_calls() {
        let a = random_bytes::<32>().expect("read /dev/urandom");
        let b = random_bytes::<32>().expect("read /dev/urandom");
        assert_ne!(a, b);
        assert_eq!(random_bytes::<0>().expect("read /dev/urandom"), [0u8; 0]);
    }

    #[test]
    fn random_hex_token_has_two_lowercase_digits_per_byte() {
        let token = random_hex_token(32).expect("read /dev/urandom");
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| HEX_DIGITS.contains(&b)), "{token}");
        assert_ne!(token, random_hex_token(32).expect("read /dev/urandom"));
        assert_eq!(random_hex_token(0).expect("read /dev/urandom"), "");
    }

    #[test]
    fn uuid_v4_format_version_and_variant() {
        let id = uuid_v4().expect("read /dev/urandom");
        let groups: Vec<&str> = id.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        assert_eq!(lengths, [8usize, 4, 4, 4, 12], "{id}");
        assert!(
            groups
                .iter()
                .all(|g| g.bytes().all(|b| HEX_DIGITS.contains(&b))),
            "{id}"
        );
        // The version nibble is the first digit of the third group.
        assert_eq!(&groups[2][..1], "4", "{id}");
        // The variant bits 10 make the first digit of the fourth group one of
        // 8, 9, a or b.
        assert!(
            matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{id}"
        );
        assert_ne!(id, uuid_v4().expect("read /dev/urandom"));
    }

    #[test]
    fn uuid_v4_sets_the_bits_on_every_draw() {
        for _ in 0..64 {
            let id = uuid_v4().expect("read /dev/urandom");
            let bytes = from_hex(&id.replace('-', "")).expect("uuid is hex");
            assert_eq!(bytes[6] >> 4, 0b0100, "{id}");
            assert_eq!(bytes[8] >> 6, 0b10, "{id}");
        }
    }
}
