//! The byte ↔ character map of byte-level BPE (GPT-2, Qwen, Llama 3) tokenizers.
//!
//! Hand-written because the tokenizers crate keeps it private, and we need the raw bytes of every
//! vocabulary entry to know which tokens could spell a Han character (see
//! [`super::generate`]'s English-only constraint).

use std::sync::OnceLock;

/// The character that stands for each byte in a byte-level BPE vocabulary.
fn byte_to_char() -> &'static [char; 256] {
    static MAP: OnceLock<[char; 256]> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = ['\0'; 256];
        let mut next = 256u32;
        for byte in 0..=255u8 {
            let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
            map[byte as usize] = if printable {
                char::from(byte)
            } else {
                let c = char::from_u32(next).expect("valid code point");
                next += 1;
                c
            };
        }
        map
    })
}

/// The bytes a byte-level BPE token string stands for; `None` if it is not such a string (an added
/// special token like `<|im_end|>` is plain text and maps to its own UTF-8).
pub fn token_bytes(token: &str) -> Option<Vec<u8>> {
    static INVERSE: OnceLock<std::collections::HashMap<char, u8>> = OnceLock::new();
    let inverse = INVERSE.get_or_init(|| byte_to_char().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect());
    token.chars().map(|c| inverse.get(&c).copied()).collect()
}

/// Encodes raw bytes as a byte-level BPE token string (the inverse of [`token_bytes`]).
pub fn bytes_token(bytes: &[u8]) -> String {
    let map = byte_to_char();
    bytes.iter().map(|&b| map[b as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(token_bytes(&bytes_token(&all)), Some(all));
        assert_eq!(bytes_token(b" a"), "Ġa");
        assert_eq!(token_bytes("Ġhello"), Some(b" hello".to_vec()));
    }
}
