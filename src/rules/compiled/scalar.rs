//! The values compiled rules compute with: one [`Scalar`] per row, unboxed.
//!
//! A scalar carries its runtime type, as rhai's `Dynamic` does, so every operator can follow
//! rhai's rules for the types it meets on each row (an int column read with `?? 0.5` is an int
//! on some rows and a float on others); but it is a 24-byte `Copy` value, strings borrow from the
//! batch, the rule or the slice's arena, and nothing is allocated per row.

use std::cell::RefCell;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};

use crate::rules::cells::{CellValue, ColumnReader};
use crate::rules::dates::{Date, Timestamp};

/// One row's value of an expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'b> {
    /// `()`: a null cell, a missing branch, `()` written out.
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'b str),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// A non-null cell of a list column: the column's index in the rule's columns, and the row.
    List(u16, u32),
    /// A reasons array under construction (`let reasons = []; reasons.push(…)`): its index in
    /// the chunk's reason lists.
    Reasons(u32),
}

impl<'b> Scalar<'b> {
    /// The number, if this is one (ints widened as rhai widens them for float operators).
    pub fn number(self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(i as f64),
            Scalar::Float(f) => Some(f),
            _ => None,
        }
    }

    /// rhai's type name of the value, as its messages spell it.
    pub fn type_name(self) -> &'static str {
        match self {
            Scalar::Unit => "()",
            Scalar::Bool(_) => "bool",
            Scalar::Int(_) => "i64",
            Scalar::Float(_) => "f64",
            Scalar::Str(_) => "string",
            Scalar::Date(_) => "date",
            Scalar::Timestamp(_) => "timestamp",
            Scalar::List(..) | Scalar::Reasons(_) => "array",
        }
    }
}

/// Rows evaluated together: enough to amortise a node's dispatch, few enough that a chunk's
/// buffers stay in cache.
pub const CHUNK: usize = 2048;

/// The range a selection covers when it has no gaps (every row of a chunk alive, the usual
/// case): loops then run over contiguous slices, which the compiler vectorises, instead of
/// through the positions one by one. Selections are ascending and without repeats.
#[inline]
pub fn dense(selection: &[u16]) -> Option<std::ops::Range<usize>> {
    let (&first, &last) = (selection.first()?, selection.last()?);
    let (first, last) = (usize::from(first), usize::from(last));
    (last - first + 1 == selection.len()).then_some(first..last + 1)
}

/// How a node's values are held for a chunk of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tagged,
    Float,
    Int,
    Bool,
    Date,
    /// Floats or `()`: a nullable float column, and what is computed from one.
    OptFloat,
    /// Integers or `()`.
    OptInt,
}

impl Kind {
    /// Whether every value of this kind is of one type, never `()`: the kinds typed loops
    /// compute on.
    pub fn plain(self) -> bool {
        matches!(self, Kind::Float | Kind::Int | Kind::Bool | Kind::Date)
    }
}

/// One node's values for the rows of a chunk.
pub enum Buf<'b> {
    Tagged(Vec<Scalar<'b>>),
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
    /// Days since 1970-01-01.
    Date(Vec<i32>),
    /// Values, and whether each is one (`false`: the row's value is `()`). Nullable number
    /// columns are read into these rather than into tagged scalars: a third of the bytes, and
    /// `??`, `== ()` and `sum`/`mean` run over them without a tag to match on each row.
    OptFloat(Vec<f64>, Vec<bool>),
    OptInt(Vec<i64>, Vec<bool>),
}

thread_local! {
    /// Typed buffers of the rule runs that ended on this thread, for [`Buf::new`] to hand out
    /// again instead of allocating and zeroing new ones. Each run of a rule over a batch needs
    /// a buffer for each of its variables, and one for each node whose values are held at
    /// once.
    static SPARE: RefCell<Spare> = RefCell::default();
}

/// Typed buffers of [`CHUNK`] values, by kind (tagged ones hold the run's strings, so they
/// are not kept past it). Their values are left over from another rule's run: no value kept
/// for a row depends on a position not written for it in this chunk (the positions read
/// unwritten belong to rows already left to the interpreter), as with the buffers a run
/// reuses from one chunk to the next.
#[derive(Default)]
struct Spare {
    floats: Vec<Vec<f64>>,
    ints: Vec<Vec<i64>>,
    bools: Vec<Vec<bool>>,
    dates: Vec<Vec<i32>>,
}

/// Buffers of each kind [`SPARE`] keeps at most, so a thread holds at most about 2.75 MB
/// (64 × 2,048 × 21 bytes).
const SPARE_BUFFERS: usize = 64;

impl<'b> Buf<'b> {
    pub fn new(kind: Kind) -> Self {
        fn reuse<T: Clone>(spare: fn(&mut Spare) -> &mut Vec<Vec<T>>, zero: T) -> Vec<T> {
            SPARE
                .with_borrow_mut(|s| spare(s).pop())
                .unwrap_or_else(|| vec![zero; CHUNK])
        }
        match kind {
            Kind::Tagged => Buf::Tagged(vec![Scalar::Unit; CHUNK]),
            Kind::Float => Buf::Float(reuse(|s| &mut s.floats, 0.0)),
            Kind::Int => Buf::Int(reuse(|s| &mut s.ints, 0)),
            Kind::Bool => Buf::Bool(reuse(|s| &mut s.bools, false)),
            Kind::Date => Buf::Date(reuse(|s| &mut s.dates, 0)),
            Kind::OptFloat => Buf::OptFloat(vec![0.0; CHUNK], vec![false; CHUNK]),
            Kind::OptInt => Buf::OptInt(vec![0; CHUNK], vec![false; CHUNK]),
        }
    }

    /// Gives a typed buffer of [`CHUNK`] values back to this thread, for [`Buf::new`]; any other
    /// (the empty placeholders `std::mem::replace` leaves) is dropped.
    ///
    /// Debug builds (the tests) fill it first with values rules seldom compute (bools `true`
    /// and `false` in turn), so that a read of a position not written since would change a
    /// result and fail the differential and determinism tests.
    pub fn recycle(self) {
        fn keep<T: Copy>(spare: &mut Vec<Vec<T>>, mut buffer: Vec<T>, poison: T) {
            if buffer.len() == CHUNK && spare.len() < SPARE_BUFFERS {
                if cfg!(debug_assertions) {
                    buffer.fill(poison);
                }
                spare.push(buffer);
            }
        }
        SPARE.with_borrow_mut(|spare| match self {
            Buf::Tagged(_) | Buf::OptFloat(..) | Buf::OptInt(..) => {}
            Buf::Float(v) => keep(&mut spare.floats, v, -1.7e308),
            Buf::Int(v) => keep(&mut spare.ints, v, i64::MIN + 7),
            Buf::Bool(v) => {
                let poison = spare.bools.len() % 2 == 0;
                keep(&mut spare.bools, v, poison)
            }
            Buf::Date(v) => keep(&mut spare.dates, v, -999_999),
        });
    }

    pub fn kind(&self) -> Kind {
        match self {
            Buf::Tagged(_) => Kind::Tagged,
            Buf::Float(_) => Kind::Float,
            Buf::Int(_) => Kind::Int,
            Buf::Bool(_) => Kind::Bool,
            Buf::Date(_) => Kind::Date,
            Buf::OptFloat(..) => Kind::OptFloat,
            Buf::OptInt(..) => Kind::OptInt,
        }
    }

    /// The value at position `p`.
    #[inline]
    pub fn get(&self, p: usize) -> Scalar<'b> {
        match self {
            Buf::Tagged(v) => v[p],
            Buf::Float(v) => Scalar::Float(v[p]),
            Buf::Int(v) => Scalar::Int(v[p]),
            Buf::Bool(v) => Scalar::Bool(v[p]),
            Buf::Date(v) => Scalar::Date(v[p]),
            Buf::OptFloat(v, valid) => {
                if valid[p] {
                    Scalar::Float(v[p])
                } else {
                    Scalar::Unit
                }
            }
            Buf::OptInt(v, valid) => {
                if valid[p] {
                    Scalar::Int(v[p])
                } else {
                    Scalar::Unit
                }
            }
        }
    }

    /// Writes `value` at position `p`; `false` when a typed buffer cannot hold it (the row is
    /// then handed to the interpreter rather than written wrong).
    #[inline(always)]
    #[must_use]
    pub fn put(&mut self, p: usize, value: Scalar<'b>) -> bool {
        match (self, value) {
            (Buf::Tagged(v), value) => v[p] = value,
            (Buf::Float(v), Scalar::Float(f)) => v[p] = f,
            (Buf::Int(v), Scalar::Int(i)) => v[p] = i,
            (Buf::Bool(v), Scalar::Bool(b)) => v[p] = b,
            (Buf::Date(v), Scalar::Date(d)) => v[p] = d,
            (Buf::OptFloat(v, valid), Scalar::Float(f)) => (v[p], valid[p]) = (f, true),
            (Buf::OptInt(v, valid), Scalar::Int(i)) => (v[p], valid[p]) = (i, true),
            (Buf::OptFloat(_, valid) | Buf::OptInt(_, valid), Scalar::Unit) => valid[p] = false,
            _ => return false,
        }
        true
    }
}

/// A constant of a rule, owned by the compiled rule; a row's scalar borrows from it.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    Date(i32),
    Timestamp(i64),
}

impl Const {
    /// The constant as a row's value.
    pub fn scalar(&self) -> Scalar<'_> {
        match self {
            Const::Unit => Scalar::Unit,
            Const::Bool(b) => Scalar::Bool(*b),
            Const::Int(i) => Scalar::Int(*i),
            Const::Float(f) => Scalar::Float(*f),
            Const::Str(s) => Scalar::Str(s),
            Const::Date(d) => Scalar::Date(*d),
            Const::Timestamp(t) => Scalar::Timestamp(*t),
        }
    }
}

/// A cell read by [`ColumnReader`] for a compiled rule: scalars only (lists are read in place,
/// structs are not compiled).
#[derive(Debug, Clone, Copy)]
pub struct Cell<'b>(pub Scalar<'b>);

impl<'b> CellValue<'b> for Cell<'b> {
    fn unit() -> Self {
        Cell(Scalar::Unit)
    }
    fn bool(value: bool) -> Self {
        Cell(Scalar::Bool(value))
    }
    fn int(value: i64) -> Self {
        Cell(Scalar::Int(value))
    }
    fn float(value: f64) -> Self {
        Cell(Scalar::Float(value))
    }
    fn string(value: &'b str) -> Self {
        Cell(Scalar::Str(value))
    }
    fn date(value: Date) -> Self {
        Cell(Scalar::Date(value.days()))
    }
    fn timestamp(value: Timestamp) -> Self {
        Cell(Scalar::Timestamp(value.micros()))
    }
    fn array(_: Vec<Self>) -> Self {
        // The plan compiles no rule that reads a list of lists; see `Input::of`.
        Cell(Scalar::Unit)
    }
    fn map(_: Vec<(&'b str, Self)>) -> Self {
        Cell(Scalar::Unit)
    }
}

/// How a compiled rule reads one of its input columns.
pub enum Input<'b> {
    /// Float64 without the per-cell dispatch of a reader: the common case.
    Float64(&'b arrow::array::Float64Array),
    Int64(&'b arrow::array::Int64Array),
    Date32(&'b arrow::array::Date32Array),
    Boolean(&'b arrow::array::BooleanArray),
    Utf8(&'b arrow::array::StringArray),
    /// Any other scalar type, read as the interpreter reads it.
    Cells(ColumnReader<'b, Cell<'b>>),
    /// A list column: a row's value is [`Scalar::List`]; its elements are read on demand.
    List {
        offsets: ListOffsets<'b>,
        nulls: Option<&'b arrow::buffer::NullBuffer>,
        elements: ColumnReader<'b, Cell<'b>>,
        /// The elements when they are `Float64`, read without the reader.
        floats: Option<&'b arrow::array::Float64Array>,
    },
}

/// The offsets of a list column, of either width.
pub enum ListOffsets<'b> {
    Small(&'b [i32]),
    Large(&'b [i64]),
    Fixed(usize),
}

impl ListOffsets<'_> {
    /// The elements of row `row`.
    pub fn range(&self, row: usize) -> std::ops::Range<usize> {
        match self {
            ListOffsets::Small(o) => o[row] as usize..o[row + 1] as usize,
            ListOffsets::Large(o) => o[row] as usize..o[row + 1] as usize,
            ListOffsets::Fixed(size) => row * size..(row + 1) * size,
        }
    }
}

impl<'b> Input<'b> {
    /// A reader of `array`; `Err` names what a compiled rule cannot read (the plan has already
    /// checked that scripts can read the type at all).
    pub fn of(array: &'b ArrayRef) -> Result<Self, String> {
        Ok(match array.data_type() {
            DataType::Float64 => Input::Float64(array.as_primitive::<Float64Type>()),
            DataType::Int64 => Input::Int64(array.as_primitive::<Int64Type>()),
            DataType::Date32 => Input::Date32(array.as_primitive::<Date32Type>()),
            DataType::Boolean => Input::Boolean(array.as_boolean()),
            DataType::Utf8 => Input::Utf8(array.as_string::<i32>()),
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                Input::List {
                    offsets: ListOffsets::Small(list.value_offsets()),
                    nulls: list.nulls(),
                    elements: elements(list.values())?,
                    floats: list.values().as_primitive_opt::<Float64Type>(),
                }
            }
            DataType::LargeList(_) => {
                let list = array.as_list::<i64>();
                Input::List {
                    offsets: ListOffsets::Large(list.value_offsets()),
                    nulls: list.nulls(),
                    elements: elements(list.values())?,
                    floats: list.values().as_primitive_opt::<Float64Type>(),
                }
            }
            DataType::FixedSizeList(_, _) => {
                let fixed = array.as_fixed_size_list();
                Input::List {
                    offsets: ListOffsets::Fixed(fixed.value_length() as usize),
                    nulls: fixed.nulls(),
                    elements: elements(fixed.values())?,
                    floats: fixed.values().as_primitive_opt::<Float64Type>(),
                }
            }
            DataType::Struct(_) => return Err("a struct column".into()),
            _ => Input::Cells(ColumnReader::new(array.as_ref())?),
        })
    }

    /// The values of the rows `base + i` for each `i` in `selection` into `out`, one loop per
    /// column type, the null check only where the column has nulls; `false` when `out` is of
    /// another kind than this column's values (the caller then reads cell by cell).
    pub fn read(&self, base: usize, selection: &[u16], column: u16, out: &mut Buf<'b>) -> bool {
        macro_rules! primitive {
            ($array:expr, $variant:ident, $typed:ident) => {{
                let values = $array.values();
                let nulls = $array.nulls().filter(|n| n.null_count() > 0);
                match (out, nulls) {
                    (Buf::$typed(o), None) => match dense(selection) {
                        Some(r) => {
                            o[r.clone()].copy_from_slice(&values[base + r.start..base + r.end])
                        }
                        None => {
                            for &i in selection {
                                let i = usize::from(i);
                                o[i] = values[base + i];
                            }
                        }
                    },
                    (Buf::Tagged(o), None) => {
                        for &i in selection {
                            let i = usize::from(i);
                            o[i] = Scalar::$variant(values[base + i]);
                        }
                    }
                    (Buf::Tagged(o), Some(nulls)) => {
                        for &i in selection {
                            let i = usize::from(i);
                            o[i] = if nulls.is_valid(base + i) {
                                Scalar::$variant(values[base + i])
                            } else {
                                Scalar::Unit
                            };
                        }
                    }
                    _ => return false,
                }
            }};
        }
        match (self, &mut *out) {
            (Input::Float64(a), Buf::OptFloat(o, valid)) => {
                nullable(a, base, selection, o, valid);
                return true;
            }
            (Input::Int64(a), Buf::OptInt(o, valid)) => {
                nullable(a, base, selection, o, valid);
                return true;
            }
            _ => {}
        }
        match self {
            Input::Float64(a) => primitive!(a, Float, Float),
            Input::Int64(a) => primitive!(a, Int, Int),
            Input::Date32(a) => primitive!(a, Date, Date),
            Input::Boolean(a) => match (out, a.null_count()) {
                (Buf::Bool(o), 0) => {
                    for &i in selection {
                        let i = usize::from(i);
                        o[i] = a.value(base + i);
                    }
                }
                (Buf::Tagged(o), _) => {
                    for &i in selection {
                        let i = usize::from(i);
                        o[i] = self.get(base + i, column);
                    }
                }
                _ => return false,
            },
            _ => match out {
                Buf::Tagged(o) => {
                    for &i in selection {
                        let i = usize::from(i);
                        o[i] = self.get(base + i, column);
                    }
                }
                _ => return false,
            },
        }
        true
    }

    /// The value of row `row`.
    #[inline]
    pub fn get(&self, row: usize, column: u16) -> Scalar<'b> {
        match self {
            Input::Float64(a) => {
                if a.is_null(row) {
                    Scalar::Unit
                } else {
                    Scalar::Float(a.value(row))
                }
            }
            Input::Int64(a) => {
                if a.is_null(row) {
                    Scalar::Unit
                } else {
                    Scalar::Int(a.value(row))
                }
            }
            Input::Date32(a) => {
                if a.is_null(row) {
                    Scalar::Unit
                } else {
                    Scalar::Date(a.value(row))
                }
            }
            Input::Boolean(a) => {
                if a.is_null(row) {
                    Scalar::Unit
                } else {
                    Scalar::Bool(a.value(row))
                }
            }
            Input::Utf8(a) => {
                if a.is_null(row) {
                    Scalar::Unit
                } else {
                    Scalar::Str(a.value(row))
                }
            }
            Input::Cells(reader) => reader.value(row).0,
            Input::List { nulls, .. } => {
                if nulls.is_some_and(|n| n.is_null(row)) {
                    Scalar::Unit
                } else {
                    Scalar::List(column, row as u32)
                }
            }
        }
    }
}

/// Reads the rows `base + i` of a primitive column into values and validity.
fn nullable<T: arrow::datatypes::ArrowPrimitiveType>(
    array: &arrow::array::PrimitiveArray<T>,
    base: usize,
    selection: &[u16],
    out: &mut [T::Native],
    valid: &mut [bool],
) {
    let values = array.values();
    match (dense(selection), array.nulls()) {
        (Some(r), Some(nulls)) => {
            out[r.clone()].copy_from_slice(&values[base + r.start..base + r.end]);
            let bits = nulls.inner().slice(base + r.start, r.len());
            for (v, bit) in valid[r].iter_mut().zip(bits.iter()) {
                *v = bit;
            }
        }
        (Some(r), None) => {
            out[r.clone()].copy_from_slice(&values[base + r.start..base + r.end]);
            valid[r].fill(true);
        }
        (None, nulls) => {
            for &i in selection {
                let i = usize::from(i);
                out[i] = values[base + i];
                valid[i] = nulls.is_none_or(|n| n.is_valid(base + i));
            }
        }
    }
}

fn elements(values: &ArrayRef) -> Result<ColumnReader<'_, Cell<'_>>, String> {
    match values.data_type() {
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::Struct(_) => Err("a list of lists or structs".into()),
        _ => ColumnReader::new(values.as_ref()),
    }
}
