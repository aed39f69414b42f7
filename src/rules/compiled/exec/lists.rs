//! List columns and the aggregates over lists and array literals (`sum`, `mean`, `stdev`,
//! `trend`, `growth`, `min_of`, `max_of`): a cell's elements read straight from the column's
//! offsets and values, and `sum` and `mean` of float lists added in loops of their own, in the
//! order [`library::total`] adds them.

use arrow::array::Array;

use crate::rules::compiled::ir::{Aggregate, Elements, Node};
use crate::rules::compiled::ops::Defer;
use crate::rules::compiled::scalar::{Buf, Input, ListOffsets, Scalar};
use crate::rules::library;

use super::kernels::{MaybeNumbers, Numbers};
use super::Chunk;

impl<'b> Chunk<'b> {
    pub(super) fn list_range(&self, column: u16, row: u32) -> std::ops::Range<usize> {
        match &self.inputs[usize::from(column)] {
            Input::List { offsets, .. } => offsets.range(row as usize),
            _ => 0..0,
        }
    }

    pub(super) fn aggregate(
        &mut self,
        aggregate: Aggregate,
        elements: &'b Elements,
        selection: &[u16],
        out: &mut Buf<'b>,
    ) {
        if matches!(aggregate, Aggregate::Sum | Aggregate::Mean)
            && self.list_column_sum(aggregate, elements, selection, out)
        {
            return;
        }
        let values = match elements {
            Elements::Literal(items) => self.evaluate_all(items, selection),
            Elements::List(list) => {
                let mut values = self.take_for(list);
                self.eval(list, selection, &mut values);
                vec![values]
            }
        };
        if matches!(aggregate, Aggregate::Sum | Aggregate::Mean)
            && self.fast_sum(aggregate, elements, &values, selection, out)
        {
            self.give_all(values);
            return;
        }
        let mut numbers = std::mem::take(&mut self.numbers);
        for &i in selection {
            let p = usize::from(i);
            numbers.clear();
            // The elements as written, for min_of and max_of.
            let gathered: Result<Option<(u16, u32)>, Defer> = match elements {
                Elements::Literal(_) => {
                    let mut ok = Ok(None);
                    for (index, part) in values.iter().enumerate() {
                        match part.get(p) {
                            Scalar::Unit => {}
                            value => match value.number() {
                                Some(n) => numbers.push((index, n)),
                                None => ok = Err(Defer),
                            },
                        }
                    }
                    ok
                }
                Elements::List(_) => match values[0].get(p) {
                    Scalar::List(column, row) => {
                        let mut ok = Ok(Some((column, row)));
                        if let Input::List {
                            offsets, elements, ..
                        } = &self.inputs[usize::from(column)]
                        {
                            for (index, element) in offsets.range(row as usize).enumerate() {
                                match elements.value(element).0 {
                                    Scalar::Unit => {}
                                    value => match value.number() {
                                        Some(n) => numbers.push((index, n)),
                                        None => ok = Err(Defer),
                                    },
                                }
                            }
                        }
                        ok
                    }
                    _ => Err(Defer),
                },
            };
            let Ok(list) = gathered else {
                self.defer(i);
                continue;
            };
            let float = |v: Option<f64>| v.map_or(Scalar::Unit, Scalar::Float);
            let value = match aggregate {
                Aggregate::Sum => Scalar::Float(library::total(&numbers)),
                Aggregate::Mean => float(library::mean(&numbers)),
                Aggregate::Stdev => float(library::stdev(&numbers)),
                Aggregate::Trend => float(library::trend(&numbers)),
                Aggregate::Growth => float(library::growth(&numbers)),
                Aggregate::MinOf | Aggregate::MaxOf => {
                    let better: fn(f64, f64) -> bool = if aggregate == Aggregate::MinOf {
                        |a, b| a < b
                    } else {
                        |a, b| a > b
                    };
                    match library::extreme(&numbers, better) {
                        None => Scalar::Unit,
                        Some(index) => match list {
                            None => values[index].get(p),
                            Some((column, row)) => match &self.inputs[usize::from(column)] {
                                Input::List {
                                    offsets, elements, ..
                                } => elements.value(offsets.range(row as usize).start + index).0,
                                _ => Scalar::Unit,
                            },
                        },
                    }
                }
            };
            self.put(out, i, value);
        }
        self.numbers = numbers;
        self.give_all(values);
    }

    /// `sum` and `mean` of a float list column, read straight from its offsets and values
    /// (no list value per row), adding in order from 0.0 as [`library::total`] does; a null
    /// cell is left to the interpreter. `false` when `elements` is no such column.
    fn list_column_sum(
        &mut self,
        aggregate: Aggregate,
        elements: &'b Elements,
        selection: &[u16],
        out: &mut Buf<'b>,
    ) -> bool {
        let Elements::List(list) = elements else {
            return false;
        };
        let Node::Column(column) = &**list else {
            return false;
        };
        let inputs: &'b [Input<'b>] = self.inputs;
        let Input::List {
            offsets,
            nulls,
            floats: Some(floats),
            ..
        } = &inputs[usize::from(*column)]
        else {
            return false;
        };
        for &i in selection {
            let p = usize::from(i);
            let row = self.base + p;
            if nulls.is_some_and(|n| n.is_null(row)) {
                self.defer(i);
                continue;
            }
            let (total, count) = list_cell_total(offsets, floats, row);
            let value = sum_or_mean(aggregate, total, count);
            match (&mut *out, value) {
                (Buf::OptFloat(o, v), value) => {
                    (o[p], v[p]) = (value.unwrap_or(0.0), value.is_some())
                }
                (out, value) => {
                    let value = value.map_or(Scalar::Unit, Scalar::Float);
                    self.put(out, i, value)
                }
            }
        }
        true
    }

    /// `sum` and `mean` over float list cells or array literals (of numbers and `()`), adding in
    /// order from 0.0 as [`library::total`] does (so the bits are the same); `false` when the
    /// general path must do it.
    fn fast_sum(
        &mut self,
        aggregate: Aggregate,
        elements: &'b Elements,
        values: &[Buf<'b>],
        selection: &[u16],
        out: &mut Buf<'b>,
    ) -> bool {
        let finish = |total: f64, count: usize| {
            sum_or_mean(aggregate, total, count).map_or(Scalar::Unit, Scalar::Float)
        };
        match elements {
            Elements::List(_) => {
                for &i in selection {
                    let p = usize::from(i);
                    let value = match values[0].get(p) {
                        Scalar::List(column, row) => match &self.inputs[usize::from(column)] {
                            Input::List {
                                offsets,
                                floats: Some(floats),
                                ..
                            } => {
                                let (total, count) = list_cell_total(offsets, floats, row as usize);
                                Some(finish(total, count))
                            }
                            _ => return false,
                        },
                        _ => None,
                    };
                    match value {
                        Some(value) => self.put(out, i, value),
                        None => self.defer(i),
                    }
                }
                true
            }
            Elements::Literal(_) => {
                let numbers: Option<Vec<Numbers<'_>>> = values.iter().map(Numbers::of).collect();
                if let Some(numbers) = numbers {
                    for &i in selection {
                        let p = usize::from(i);
                        let total = numbers.iter().fold(0.0, |total, n| total + n.at(p));
                        let value = finish(total, numbers.len());
                        self.put(out, i, value);
                    }
                    return true;
                }
                // Elements that are `()` on some rows (nullable columns) are skipped, numbers
                // added in order; anything else leaves the row to the interpreter.
                let nullable: Option<Vec<MaybeNumbers<'_>>> =
                    values.iter().map(MaybeNumbers::of).collect();
                if let Some(parts) = nullable {
                    for &i in selection {
                        let p = usize::from(i);
                        let (mut total, mut count) = (0.0, 0);
                        for part in &parts {
                            if let Some(x) = part.at(p) {
                                (total, count) = (total + x, count + 1);
                            }
                        }
                        self.put(out, i, finish(total, count));
                    }
                    return true;
                }
                for &i in selection {
                    let p = usize::from(i);
                    let (mut total, mut count, mut numeric) = (0.0, 0, true);
                    for part in values {
                        match part.get(p) {
                            Scalar::Unit => {}
                            Scalar::Int(x) => (total, count) = (total + x as f64, count + 1),
                            Scalar::Float(x) => (total, count) = (total + x, count + 1),
                            _ => numeric = false,
                        }
                    }
                    if numeric {
                        self.put(out, i, finish(total, count));
                    } else {
                        self.defer(i);
                    }
                }
                true
            }
        }
    }
}

/// The sum of the non-null elements of a float list column's cell `row`, added in order from
/// 0.0 as [`library::total`] does, and their count.
fn list_cell_total(
    offsets: &ListOffsets<'_>,
    floats: &arrow::array::Float64Array,
    row: usize,
) -> (f64, usize) {
    let (values, valid) = (floats.values(), floats.nulls());
    let (mut total, mut count) = (0.0, 0);
    for element in offsets.range(row) {
        if valid.is_none_or(|v| v.is_valid(element)) {
            total += values[element];
            count += 1;
        }
    }
    (total, count)
}

/// `sum` (`total`) or `mean` (`()` over no numbers) of `count` numbers adding up to `total`.
fn sum_or_mean(aggregate: Aggregate, total: f64, count: usize) -> Option<f64> {
    match aggregate {
        Aggregate::Sum => Some(total),
        _ => (count > 0).then(|| total / count as f64),
    }
}
