//! A file's footer walked as Thrift before parquet decodes it.
//!
//! parquet 60.1 skips a footer's unknown fields without reading a byte for each `bool` of a list,
//! set or map, where the compact protocol writes one: a forged footer whose unknown fields declare
//! lists of 2^31 booleans sends it round an empty loop 2^31 times for each (fifty such fields,
//! 450 bytes, kept a run busy for minutes). Apache Thrift's own reader takes a byte for every
//! element and refuses a container or string longer than the bytes left, so walking the footer
//! with it first ends within the footer's length (times the nesting, at most 64 levels), and a
//! footer it refuses is damaged: parquet never sees it.

use std::io::Read;

use thrift::protocol::{TCompactInputProtocol, TInputProtocol, TType};
use thrift::{ProtocolErrorKind, TransportErrorKind};

/// Walks `footer` (the Thrift `FileMetaData` of a Parquet file, without the length and `PAR1`
/// after it) and says why it is damaged, if it is.
pub(super) fn check(footer: &[u8]) -> Result<(), String> {
    let mut protocol = bounded(footer, footer.len())?;
    protocol
        .skip(TType::Struct)
        .map_err(|error| format!("its footer is damaged: {}", why(&error, "the footer")))
}

/// Thrift's compact reader over `reader`, refusing any list, map or text longer than `limit`
/// bytes (what is left of the footer or the column chunk being read).
pub(super) fn bounded<R: Read>(
    reader: R,
    limit: usize,
) -> Result<TCompactInputProtocol<R>, String> {
    let limit = Some(limit);
    let config = thrift::TConfiguration::builder()
        .max_message_size(limit)
        .max_frame_size(limit)
        .max_string_size(limit)
        .max_container_size(limit)
        .build()
        .map_err(|error| error.to_string())?;
    Ok(TCompactInputProtocol::with_config(reader, config))
}

/// Why a walk by [`bounded`]'s reader over `whole` ("the footer", "its chunk") stopped.
pub(super) fn why(error: &thrift::Error, whole: &str) -> String {
    match error {
        thrift::Error::Protocol(e) if e.kind == ProtocolErrorKind::SizeLimit => {
            format!("a list, map or text in it claims more bytes than {whole} holds")
        }
        thrift::Error::Protocol(e) if e.kind == ProtocolErrorKind::DepthLimit => {
            "it nests deeper than 64 levels".to_string()
        }
        thrift::Error::Transport(e) if e.kind == TransportErrorKind::EndOfFile => {
            "it ends in the middle of a field".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn a_real_footer_walks_clean() {
        let file = std::fs::read("testdata/customers.parquet").unwrap();
        let length = u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap());
        let footer = &file[file.len() - 8 - length as usize..file.len() - 8];
        assert_eq!(check(footer), Ok(()));
    }

    #[test]
    fn a_list_longer_than_the_footer_is_refused() {
        // A struct whose field 1 is a list of 2^31 - 1 booleans (0x19: field delta 1, type list;
        // 0xF1: size follows, element type bool), in seven bytes.
        let forged = [0x19, 0xF1, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00];
        assert_eq!(
            check(&forged).unwrap_err(),
            "its footer is damaged: a list, map or text in it claims more bytes than the footer \
             holds"
        );
    }

    #[test]
    fn nesting_past_64_levels_is_refused() {
        // Field 1 a struct, whose field 1 is a struct, … 100 deep.
        let mut forged = vec![0x1C; 100];
        forged.extend(std::iter::repeat_n(0x00, 101));
        assert_eq!(
            check(&forged).unwrap_err(),
            "its footer is damaged: it nests deeper than 64 levels"
        );
    }

    #[test]
    fn a_footer_cut_short_is_refused() {
        let file = std::fs::read("testdata/customers.parquet").unwrap();
        let length = u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap());
        let footer = &file[file.len() - 8 - length as usize..file.len() - 8];
        assert_eq!(
            check(&footer[..footer.len() / 2]).unwrap_err(),
            "its footer is damaged: it ends in the middle of a field"
        );
    }
}
