//! A file's footer walked as Thrift before parquet decodes it.
//!
//! parquet 60.1 skips a footer's unknown fields without reading a byte for each `bool` of a list,
//! set or map, where the compact protocol writes one: a forged footer whose unknown fields declare
//! lists of 2^31 booleans sends it round an empty loop 2^31 times for each (fifty such fields,
//! 450 bytes, kept a run busy for minutes). Apache Thrift's own reader takes a byte for every
//! element and refuses a container or string longer than the bytes left, so walking the footer
//! with it first ends within the footer's length (times the nesting, at most 64 levels), and a
//! footer it refuses is damaged: parquet never sees it.
//!
//! The walk also bounds how deep the schema nests ([`MAX_SCHEMA_DEPTH`]): parquet builds the
//! schema's tree with a call a level, and a schema of structs nested 3,000 deep (33 KB of file)
//! overflowed the stack of `check` and `run` alike, an abort rather than an error.

use std::io::Read;

use thrift::protocol::{TCompactInputProtocol, TInputProtocol, TType};
use thrift::{ProtocolErrorKind, TransportErrorKind};

/// The deepest a schema may nest, counting its root: 100 levels, the limit of Arrow C++
/// (pyarrow) too, far past any customer table's structs of lists.
const MAX_SCHEMA_DEPTH: usize = 100;

/// `FileMetaData.schema` and `SchemaElement.num_children` (parquet.thrift).
const SCHEMA: i16 = 2;
const NUM_CHILDREN: i16 = 5;

/// Walks `footer` (the Thrift `FileMetaData` of a Parquet file, without the length and `PAR1`
/// after it) and says why it is damaged, or nests deeper than tierscore reads, if it does.
pub(super) fn check(footer: &[u8]) -> Result<(), String> {
    let mut protocol = bounded(footer, footer.len())?;
    // Each schema element's number of children, in the footer's order (depth first).
    let mut children: Vec<i32> = Vec::new();
    read_struct(&mut protocol, |protocol, id, kind| {
        if id != Some(SCHEMA) || kind != TType::List {
            return Ok(false);
        }
        let list = protocol.read_list_begin()?;
        for _ in 0..list.size {
            let mut count = 0;
            read_struct(protocol, |protocol, id, kind| {
                let known = id == Some(NUM_CHILDREN) && kind == TType::I32;
                if known {
                    count = protocol.read_i32()?;
                }
                Ok(known)
            })?;
            children.push(count);
        }
        protocol.read_list_end()?;
        Ok(true)
    })
    .map_err(|error| format!("its footer is damaged: {}", why(&error, "the footer")))?;
    let depth = schema_depth(&children);
    if depth > MAX_SCHEMA_DEPTH {
        return Err(format!(
            "its schema nests {depth} levels deep; tierscore reads at most {MAX_SCHEMA_DEPTH} (as pyarrow does)"
        ));
    }
    Ok(())
}

/// How deep the schema whose elements have `children` children each (depth first, the root
/// first) nests: the most groups open at once.
fn schema_depth(children: &[i32]) -> usize {
    // The children still to come of each group open, innermost last.
    let mut open: Vec<i32> = Vec::new();
    let mut deepest = 0;
    for &count in children {
        if let Some(left) = open.last_mut() {
            *left -= 1;
        }
        if count > 0 {
            open.push(count);
            deepest = deepest.max(open.len());
        }
        while open.last().is_some_and(|left| *left <= 0) {
            open.pop();
        }
    }
    deepest
}

/// Reads a Thrift struct, handing each field's id and type to `field`, which reads the fields
/// it knows and says so; the others are skipped.
pub(super) fn read_struct<P: TInputProtocol>(
    protocol: &mut P,
    mut field: impl FnMut(&mut P, Option<i16>, TType) -> thrift::Result<bool>,
) -> thrift::Result<()> {
    protocol.read_struct_begin()?;
    loop {
        let begun = protocol.read_field_begin()?;
        if begun.field_type == TType::Stop {
            break;
        }
        if !field(protocol, begun.id, begun.field_type)? {
            protocol.skip(begun.field_type)?;
        }
        protocol.read_field_end()?;
    }
    protocol.read_struct_end()
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
    use super::{check, schema_depth};

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

    /// The footer of a file whose column `deep` is a struct of a struct … `levels` deep over
    /// an integer, beside an integer `id`.
    fn nested_footer(levels: usize) -> Vec<u8> {
        use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StructArray};
        use arrow::datatypes::Field;
        use std::sync::Arc;
        let mut deep: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        for _ in 0..levels {
            let field = Arc::new(Field::new("x", deep.data_type().clone(), true));
            deep = Arc::new(StructArray::from(vec![(field, deep)]));
        }
        let id: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let batch = RecordBatch::try_from_iter([("id", id), ("deep", deep)]).unwrap();
        let mut file = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let length = u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap());
        file[file.len() - 8 - length as usize..file.len() - 8].to_vec()
    }

    #[test]
    fn a_schema_nested_past_100_levels_is_refused() {
        // Arrow's writer recurses a level at a time too: on a thread with room for it (a test
        // thread's 2 MiB is not enough in a debug build).
        let (at_most, past) = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| (nested_footer(99), nested_footer(100)))
            .unwrap()
            .join()
            .unwrap();
        // The root, then 99 structs: 100 groups open at once, the most read.
        assert_eq!(check(&at_most), Ok(()));
        assert_eq!(
            check(&past).unwrap_err(),
            "its schema nests 101 levels deep; tierscore reads at most 100 (as pyarrow does)"
        );
    }

    #[test]
    fn the_depth_is_the_most_groups_open_at_once() {
        // root(2): a leaf, a group(1) of a leaf.
        assert_eq!(schema_depth(&[2, 0, 1, 0]), 2);
        // root(1): a group(1) of a group(1) of a leaf.
        assert_eq!(schema_depth(&[1, 1, 1, 0]), 3);
        // root(3): a group(2) of two leaves, a leaf, a group(1) of a leaf.
        assert_eq!(schema_depth(&[3, 2, 0, 0, 0, 1, 0]), 2);
        // Counts that claim more children than follow, or fewer than none, end the walk.
        assert_eq!(schema_depth(&[5, 0]), 1);
        assert_eq!(schema_depth(&[-3, 0, 0]), 0);
        assert_eq!(schema_depth(&[]), 0);
    }
}
