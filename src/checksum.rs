//! Offline checksums that some token formats carry, so a look-alike can be told from a real
//! token without asking the provider. A failed checksum lowers a finding's confidence; it never
//! hides the finding, so a provider that changes its scheme cannot silently cost recall.

/// The checksum kinds a rule may name.
pub const KINDS: &[&str] = &["github", "npm", "pypi"];

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` in base 62, left-padded with '0' to `width` digits.
pub fn base62(mut n: u32, width: usize) -> String {
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).expect("ascii")
}

/// Tokens shaped `<prefix>_<30 random base62><6 base62 digits of CRC32(random)>`, the scheme
/// GitHub documented for its 2021 token formats and npm uses for `npm_` tokens.
fn crc32_tail(token: &[u8]) -> bool {
    let Some(us) = token.iter().position(|&b| b == b'_') else {
        return false;
    };
    let body = &token[us + 1..];
    if body.len() != 36 {
        return false;
    }
    let (random, tail) = body.split_at(30);
    base62(crc32fast::hash(random), 6).as_bytes() == tail
}

/// Whether `value` carries a valid checksum of `kind`. Unknown kinds never verify.
pub fn verify(kind: &str, value: &[u8]) -> bool {
    match kind {
        "github" | "npm" => crc32_tail(value),
        // A PyPI API token is a macaroon whose serialisation always starts with the location
        // `pypi.org`, which base64-encodes to this prefix.
        "pypi" => value.starts_with(b"pypi-AgEIcHlwaS5vcmc"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_pads_and_encodes() {
        assert_eq!(base62(0, 6), "000000");
        assert_eq!(base62(61, 1), "z");
        assert_eq!(base62(62, 2), "10");
    }

    #[test]
    fn crc32_tail_accepts_built_tokens_and_rejects_altered_ones() {
        let random = "Ab3De5Gh7Jk9Mn1Pq2Rs4Tu6Vw8Xy0";
        let token = format!(
            "ghp_{random}{}",
            base62(crc32fast::hash(random.as_bytes()), 6)
        );
        assert!(verify("github", token.as_bytes()));
        let mut bad = token.clone().into_bytes();
        bad[10] = b'Z';
        assert!(!verify("github", &bad));
        assert!(!verify("github", b"ghp_short"));
    }
}
