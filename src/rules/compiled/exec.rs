//! Running a compiled program over a chunk of rows at once.
//!
//! Every node evaluates for a selection of the chunk's rows (positions, ascending) into a
//! buffer with one [`Scalar`] per position. `if`, `&&`, `||`, `??` and `switch` split the
//! selection, so a branch runs only for the rows that take it — an error in a branch a row does
//! not take cannot touch that row. A row that returns, or is deferred to the interpreter, is
//! marked done and leaves every selection after the statement it happened in.

use std::hash::{Hash, Hasher};

use super::ir::{Aggregate, Block, Elements, Func, Node, Stmt, Switch};
use super::ops::{binary, call, display, unary, Defer, Strings};
use super::scalar::{Input, Scalar};
use crate::rules::library;

/// Rows evaluated together: enough to amortise a node's dispatch, few enough that a chunk's
/// buffers stay in cache.
pub const CHUNK: usize = 1024;

/// How a result was given: a plain value, or a `#{ value, reason }` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Plain,
    Map,
    /// A map whose keys are not `value` (and optionally `reason`).
    BadMap,
}

/// A reasons array being built.
#[derive(Debug, Default)]
pub struct ReasonList<'b> {
    /// The strings pushed, in order.
    pub texts: Vec<&'b str>,
    /// Elements, strings or not.
    pub len: usize,
    /// Something other than a string was pushed (such a reason fails the row).
    pub mixed: bool,
}

/// Where a block's value goes.
enum Dest<'o, 'b> {
    Value(&'o mut [Scalar<'b>]),
    Result,
    Discard,
}

impl<'b> Dest<'_, 'b> {
    fn reborrow(&mut self) -> Dest<'_, 'b> {
        match self {
            Dest::Value(out) => Dest::Value(out),
            Dest::Result => Dest::Result,
            Dest::Discard => Dest::Discard,
        }
    }
}

/// The state of one chunk of rows while a program runs over it.
pub struct Chunk<'b> {
    /// The batch row of position 0.
    base: usize,
    inputs: &'b [Input<'b>],
    pub strings: Strings<'b>,
    /// `limits.max_array_size` (0: none).
    max_array: usize,
    vars: Vec<Vec<Scalar<'b>>>,
    pool: Vec<Vec<Scalar<'b>>>,
    done: Vec<bool>,
    /// Rows left to the interpreter.
    pub deferred: Vec<bool>,
    pub lists: Vec<ReasonList<'b>>,
    /// Each row's result: its value, its reason and how it was given.
    pub result: Vec<Scalar<'b>>,
    pub reason: Vec<Scalar<'b>>,
    pub shape: Vec<Shape>,
    numbers: Vec<(usize, f64)>,
}

impl<'b> Chunk<'b> {
    /// A chunk over `inputs` for a program with `slots` variables.
    pub fn new(
        inputs: &'b [Input<'b>],
        strings: Strings<'b>,
        max_array: usize,
        slots: usize,
    ) -> Self {
        Self {
            base: 0,
            inputs,
            strings,
            max_array,
            vars: vec![vec![Scalar::Unit; CHUNK]; slots],
            pool: Vec::new(),
            done: vec![false; CHUNK],
            deferred: vec![false; CHUNK],
            lists: Vec::new(),
            result: vec![Scalar::Unit; CHUNK],
            reason: vec![Scalar::Unit; CHUNK],
            shape: vec![Shape::Plain; CHUNK],
            numbers: Vec::new(),
        }
    }

    /// Runs `program` for the rows at `selection` (positions) of the chunk starting at batch
    /// row `base`; results are in [`Chunk::result`], or the row is [`Chunk::deferred`].
    pub fn run(&mut self, program: &'b Block, base: usize, selection: &[u16]) {
        self.base = base;
        self.done.fill(false);
        self.deferred.fill(false);
        self.lists.clear();
        self.block(program, selection.to_vec(), Dest::Result);
    }

    fn take(&mut self) -> Vec<Scalar<'b>> {
        self.pool.pop().unwrap_or_else(|| vec![Scalar::Unit; CHUNK])
    }

    fn give(&mut self, buffer: Vec<Scalar<'b>>) {
        self.pool.push(buffer);
    }

    /// Leaves row `i` to the interpreter, unless it is already done.
    fn defer(&mut self, i: u16) {
        let i = usize::from(i);
        if !self.done[i] {
            self.done[i] = true;
            self.deferred[i] = true;
        }
    }

    fn live(&self, selection: &mut Vec<u16>) {
        selection.retain(|&i| !self.done[usize::from(i)]);
    }

    /// Splits `selection` by a condition's values: (true rows, false rows); a row whose
    /// condition is no bool is deferred (rhai: a type mismatch).
    fn split(&mut self, selection: &[u16], condition: &[Scalar<'b>]) -> (Vec<u16>, Vec<u16>) {
        let mut yes = Vec::with_capacity(selection.len());
        let mut no = Vec::with_capacity(selection.len());
        for &i in selection {
            match condition[usize::from(i)] {
                Scalar::Bool(true) => yes.push(i),
                Scalar::Bool(false) => no.push(i),
                _ => self.defer(i),
            }
        }
        (yes, no)
    }

    fn block(&mut self, block: &'b Block, mut selection: Vec<u16>, mut dest: Dest<'_, 'b>) {
        self.live(&mut selection);
        let count = block.stmts.len();
        if count == 0 {
            self.unit(&selection, dest);
            return;
        }
        for (k, stmt) in block.stmts.iter().enumerate() {
            if selection.is_empty() {
                return;
            }
            let last = k + 1 == count;
            match stmt {
                Stmt::Set(slot, node) => {
                    let mut values = self.take();
                    self.eval(node, &selection, &mut values);
                    let var = &mut self.vars[*slot];
                    for &i in &selection {
                        var[usize::from(i)] = values[usize::from(i)];
                    }
                    self.give(values);
                }
                Stmt::AppendStr(slot, node) => {
                    let mut values = self.take();
                    self.eval(node, &selection, &mut values);
                    for &i in &selection {
                        let p = usize::from(i);
                        let current = self.vars[*slot][p];
                        let appended = match (current, values[p]) {
                            // rhai's `+=` on strings checks the size only when both are non-empty.
                            (Scalar::Str(a), Scalar::Str(b)) if a.is_empty() || b.is_empty() => {
                                Ok(if a.is_empty() { values[p] } else { current })
                            }
                            // No built-in `+=` for the two: rhai assigns `a + b` and checks
                            // its size (`+` of a string and `()` checks nothing itself).
                            (a, b) => binary(super::ir::Binary::Add, a, b, &self.strings).and_then(
                                |sum| match sum {
                                    Scalar::Str(text)
                                        if self.strings.max_len > 0
                                            && text.len() > self.strings.max_len =>
                                    {
                                        Err(Defer)
                                    }
                                    sum => Ok(sum),
                                },
                            ),
                        };
                        match appended {
                            Ok(v) => self.vars[*slot][p] = v,
                            Err(Defer) => self.defer(i),
                        }
                    }
                    self.give(values);
                }
                Stmt::Expr(node) => {
                    if last {
                        self.value(node, &selection, dest);
                        return;
                    }
                    let mut values = self.take();
                    self.eval(node, &selection, &mut values);
                    self.give(values);
                }
                Stmt::If(condition, body, branch) => {
                    let mut values = self.take();
                    self.eval(condition, &selection, &mut values);
                    let (yes, no) = self.split(&selection, &values);
                    self.give(values);
                    if last {
                        self.block(body, yes, dest.reborrow());
                        self.block(branch, no, dest);
                        return;
                    }
                    self.block(body, yes, Dest::Discard);
                    self.block(branch, no, Dest::Discard);
                }
                Stmt::Return(node) => {
                    match node {
                        Some(node) => self.result_of(node, &selection),
                        None => self.unit(&selection, Dest::Result),
                    }
                    for &i in &selection {
                        self.done[usize::from(i)] = true;
                    }
                    return;
                }
                Stmt::Throw(node) => {
                    let mut values = self.take();
                    self.eval(node, &selection, &mut values);
                    self.give(values);
                    for &i in &selection {
                        self.defer(i);
                    }
                    return;
                }
                Stmt::Push(slot, node) => {
                    let mut values = self.take();
                    self.eval(node, &selection, &mut values);
                    for &i in &selection {
                        let p = usize::from(i);
                        match (self.vars[*slot][p], values[p]) {
                            // An array in an array: sized as rhai sizes it by the interpreter.
                            (_, Scalar::List(..) | Scalar::Reasons(_)) => self.defer(i),
                            (reasons @ Scalar::Reasons(index), value) => {
                                let list = &mut self.lists[index as usize];
                                list.len += 1;
                                match value {
                                    Scalar::Str(text) => list.texts.push(text),
                                    _ => list.mixed = true,
                                }
                                // `push` takes the array by reference and rhai checks its size
                                // after the call.
                                if self.over_limits(reasons) {
                                    self.defer(i);
                                }
                            }
                            _ => self.defer(i),
                        }
                    }
                    self.give(values);
                }
            }
            if last {
                // The last statement was no expression: the block's value is `()`.
                self.live(&mut selection);
                self.unit(&selection, dest);
                return;
            }
            self.live(&mut selection);
        }
    }

    /// Writes `()` as the value of `selection`.
    fn unit(&mut self, selection: &[u16], dest: Dest<'_, 'b>) {
        match dest {
            Dest::Value(out) => {
                for &i in selection {
                    out[usize::from(i)] = Scalar::Unit;
                }
            }
            Dest::Result => {
                for &i in selection {
                    self.set_result(i, Scalar::Unit, Scalar::Unit, Shape::Plain);
                }
            }
            Dest::Discard => {}
        }
    }

    fn value(&mut self, node: &'b Node, selection: &[u16], dest: Dest<'_, 'b>) {
        match dest {
            Dest::Value(out) => self.eval(node, selection, out),
            Dest::Result => self.result_of(node, selection),
            Dest::Discard => {
                let mut values = self.take();
                self.eval(node, selection, &mut values);
                self.give(values);
            }
        }
    }

    fn set_result(&mut self, i: u16, value: Scalar<'b>, reason: Scalar<'b>, shape: Shape) {
        let p = usize::from(i);
        if !self.done[p] {
            self.result[p] = value;
            self.reason[p] = reason;
            self.shape[p] = shape;
        }
    }

    /// Evaluates `node` as the rule's result for `selection`.
    fn result_of(&mut self, node: &'b Node, selection: &[u16]) {
        match node {
            Node::Result {
                value,
                reason,
                valid,
            } => {
                let mut values = self.take();
                match value {
                    Some(value) => self.eval(value, selection, &mut values),
                    None => self.constant_unit(selection, &mut values),
                }
                let mut reasons = self.take();
                match reason {
                    Some(reason) => self.eval(reason, selection, &mut reasons),
                    None => self.constant_unit(selection, &mut reasons),
                }
                let shape = if *valid { Shape::Map } else { Shape::BadMap };
                for &i in selection {
                    let p = usize::from(i);
                    // rhai checks the map's sizes as it builds it: a reason over the limits
                    // fails the row.
                    if self.over_limits(reasons[p]) {
                        self.defer(i);
                        continue;
                    }
                    self.set_result(i, values[p], reasons[p], shape);
                }
                self.give(values);
                self.give(reasons);
            }
            Node::Block(block) => self.block(block, selection.to_vec(), Dest::Result),
            Node::Switch(switch) => self.switch(switch, selection, Dest::Result),
            other => {
                let mut values = self.take();
                self.eval(other, selection, &mut values);
                for &i in selection {
                    self.set_result(i, values[usize::from(i)], Scalar::Unit, Shape::Plain);
                }
                self.give(values);
            }
        }
    }

    fn constant_unit(&self, selection: &[u16], out: &mut [Scalar<'b>]) {
        for &i in selection {
            out[usize::from(i)] = Scalar::Unit;
        }
    }

    /// Evaluates `node` for `selection` into `out`.
    pub fn eval(&mut self, node: &'b Node, selection: &[u16], out: &mut [Scalar<'b>]) {
        match node {
            Node::Const(constant) => {
                let value = constant.scalar();
                for &i in selection {
                    out[usize::from(i)] = value;
                }
            }
            Node::Column(column) => {
                let input = &self.inputs[usize::from(*column)];
                for &i in selection {
                    out[usize::from(i)] = input.get(self.base + usize::from(i), *column);
                }
            }
            Node::Var(slot) => {
                let var = &self.vars[*slot];
                for &i in selection {
                    out[usize::from(i)] = var[usize::from(i)];
                }
            }
            Node::Unary(op, x) => {
                self.eval(x, selection, out);
                for &i in selection {
                    let p = usize::from(i);
                    match unary(*op, out[p]) {
                        Ok(v) => out[p] = v,
                        Err(Defer) => self.defer(i),
                    }
                }
            }
            Node::Binary(op, a, b) => {
                self.eval(a, selection, out);
                let mut right = self.take();
                self.eval(b, selection, &mut right);
                for &i in selection {
                    let p = usize::from(i);
                    match binary(*op, out[p], right[p], &self.strings) {
                        Ok(v) => out[p] = v,
                        Err(Defer) => self.defer(i),
                    }
                }
                self.give(right);
            }
            Node::And(operands) | Node::Or(operands) => {
                let and = matches!(node, Node::And(_));
                let mut active = selection.to_vec();
                let mut values = self.take();
                for operand in operands {
                    self.eval(operand, &active, &mut values);
                    let mut kept = Vec::with_capacity(active.len());
                    for &i in &active {
                        let p = usize::from(i);
                        match values[p] {
                            Scalar::Bool(b) if b == and => kept.push(i),
                            Scalar::Bool(b) => out[p] = Scalar::Bool(b),
                            _ => self.defer(i),
                        }
                    }
                    active = kept;
                }
                for &i in &active {
                    out[usize::from(i)] = Scalar::Bool(and);
                }
                self.give(values);
            }
            Node::Coalesce(operands) => {
                let mut active = selection.to_vec();
                for (k, operand) in operands.iter().enumerate() {
                    self.eval(operand, &active, out);
                    if k + 1 < operands.len() {
                        active.retain(|&i| out[usize::from(i)] == Scalar::Unit);
                    }
                }
            }
            Node::Switch(switch) => self.switch(switch, selection, Dest::Value(out)),
            Node::Block(block) => self.block(block, selection.to_vec(), Dest::Value(out)),
            Node::Call(func, args) => self.call(*func, args, selection, out),
            Node::Aggregate(aggregate, elements) => {
                self.aggregate(*aggregate, elements, selection, out)
            }
            Node::Band(x, band) => {
                self.eval(x, selection, out);
                for &i in selection {
                    let p = usize::from(i);
                    match (out[p].number(), band) {
                        (Some(x), Ok(band)) => {
                            out[p] = band.scores[library::band_index(x, &band.cuts)].scalar();
                        }
                        _ => self.defer(i),
                    }
                }
            }
            Node::In(x, items) => {
                self.eval(x, selection, out);
                'rows: for &i in selection {
                    let p = usize::from(i);
                    let value = out[p];
                    for item in items {
                        match binary(super::ir::Binary::Eq, item.scalar(), value, &self.strings) {
                            Ok(Scalar::Bool(true)) => {
                                out[p] = Scalar::Bool(true);
                                continue 'rows;
                            }
                            Ok(_) => {}
                            Err(Defer) => {
                                self.defer(i);
                                continue 'rows;
                            }
                        }
                    }
                    out[p] = Scalar::Bool(false);
                }
            }
            Node::Template(parts) => {
                let values = self.evaluate_all(parts, selection);
                let mut text = String::new();
                for &i in selection {
                    let p = usize::from(i);
                    text.clear();
                    let shown = values
                        .iter()
                        .try_for_each(|part| display(part[p], &mut text));
                    match shown.and_then(|()| self.strings.make(&text)) {
                        Ok(v) => out[p] = v,
                        Err(Defer) => self.defer(i),
                    }
                }
                self.give_all(values);
            }
            Node::Reasons(items) => {
                let values = self.evaluate_all(items, selection);
                for &i in selection {
                    let p = usize::from(i);
                    let mut list = ReasonList {
                        len: items.len(),
                        ..ReasonList::default()
                    };
                    let mut bytes = 0;
                    for part in &values {
                        match part[p] {
                            Scalar::Str(text) => {
                                bytes += text.len();
                                list.texts.push(text);
                            }
                            _ => list.mixed = true,
                        }
                    }
                    let too_big = (self.max_array > 0 && items.len() > self.max_array)
                        || (self.strings.max_len > 0 && bytes > self.strings.max_len);
                    if too_big {
                        self.defer(i);
                        continue;
                    }
                    out[p] = Scalar::Reasons(self.lists.len() as u32);
                    self.lists.push(list);
                }
                self.give_all(values);
            }
            Node::Result { .. } => {
                for &i in selection {
                    self.defer(i);
                }
            }
        }
    }

    fn evaluate_all(&mut self, nodes: &'b [Node], selection: &[u16]) -> Vec<Vec<Scalar<'b>>> {
        nodes
            .iter()
            .map(|node| {
                let mut values = self.take();
                self.eval(node, selection, &mut values);
                values
            })
            .collect()
    }

    fn give_all(&mut self, buffers: Vec<Vec<Scalar<'b>>>) {
        for buffer in buffers {
            self.give(buffer);
        }
    }

    /// What rhai's size checks count in `value`: array elements and string bytes.
    fn sizes(&self, value: Scalar<'b>) -> (usize, usize) {
        match value {
            Scalar::Str(text) => (0, text.len()),
            Scalar::List(column, row) => match &self.inputs[usize::from(column)] {
                Input::List {
                    offsets, elements, ..
                } => {
                    let range = offsets.range(row as usize);
                    let bytes = if self.strings.max_len > 0 {
                        range
                            .clone()
                            .map(|e| match elements.value(e).0 {
                                Scalar::Str(text) => text.len(),
                                _ => 0,
                            })
                            .sum()
                    } else {
                        0
                    };
                    (range.len(), bytes)
                }
                _ => (0, 0),
            },
            Scalar::Reasons(list) => {
                let list = &self.lists[list as usize];
                (list.len, list.texts.iter().map(|t| t.len()).sum())
            }
            _ => (0, 0),
        }
    }

    /// Whether rhai's size check of `value` fails (`limits.max_array_size`,
    /// `limits.max_string_size`).
    fn over_limits(&self, value: Scalar<'b>) -> bool {
        let (items, bytes) = self.sizes(value);
        (self.max_array > 0 && items > self.max_array)
            || (self.strings.max_len > 0 && bytes > self.strings.max_len)
    }

    /// Whether `value`, the object of `len` written as the variable or column `node`, is an
    /// array over the size limits: rhai's `len` takes an array by reference, and rhai checks
    /// the size of such an argument after the call, failing the row (a list column longer than
    /// `limits.max_array_size`). Functions taking their first argument by value (the
    /// aggregates, `len` of a string) do not check it.
    fn array_over_limits_in_place(&self, node: &Node, value: Scalar<'b>) -> bool {
        matches!(node, Node::Column(_) | Node::Var(_))
            && matches!(value, Scalar::List(..) | Scalar::Reasons(_))
            && self.over_limits(value)
    }

    fn call(&mut self, func: Func, args: &'b [Node], selection: &[u16], out: &mut [Scalar<'b>]) {
        let values = self.evaluate_all(args, selection);
        let mut row = [Scalar::Unit; 3];
        for &i in selection {
            let p = usize::from(i);
            for (slot, arg) in row.iter_mut().zip(&values) {
                *slot = arg[p];
            }
            if func == Func::Len && self.array_over_limits_in_place(&args[0], row[0]) {
                self.defer(i);
                continue;
            }
            let args = &row[..values.len()];
            let result = match (func, args) {
                (Func::Len, [Scalar::List(column, r)]) => {
                    Ok(Scalar::Int(self.list_range(*column, *r).len() as i64))
                }
                (Func::Len, [Scalar::Reasons(list)]) => {
                    Ok(Scalar::Int(self.lists[*list as usize].len as i64))
                }
                _ => call(func, args, &self.strings),
            };
            match result {
                Ok(v) => out[p] = v,
                Err(Defer) => self.defer(i),
            }
        }
        self.give_all(values);
    }

    fn list_range(&self, column: u16, row: u32) -> std::ops::Range<usize> {
        match &self.inputs[usize::from(column)] {
            Input::List { offsets, .. } => offsets.range(row as usize),
            _ => 0..0,
        }
    }

    fn aggregate(
        &mut self,
        aggregate: Aggregate,
        elements: &'b Elements,
        selection: &[u16],
        out: &mut [Scalar<'b>],
    ) {
        let values = match elements {
            Elements::Literal(items) => self.evaluate_all(items, selection),
            Elements::List(list) => {
                let mut values = self.take();
                self.eval(list, selection, &mut values);
                vec![values]
            }
        };
        let mut numbers = std::mem::take(&mut self.numbers);
        for &i in selection {
            let p = usize::from(i);
            numbers.clear();
            // The elements as written, for min_of and max_of.
            let gathered: Result<Option<(u16, u32)>, Defer> = match elements {
                Elements::Literal(_) => {
                    let mut ok = Ok(None);
                    for (index, part) in values.iter().enumerate() {
                        match part[p] {
                            Scalar::Unit => {}
                            value => match value.number() {
                                Some(n) => numbers.push((index, n)),
                                None => ok = Err(Defer),
                            },
                        }
                    }
                    ok
                }
                Elements::List(_) => match values[0][p] {
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
            out[p] = match aggregate {
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
                            None => values[index][p],
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
        }
        self.numbers = numbers;
        self.give_all(values);
    }

    fn switch(&mut self, switch: &'b Switch, selection: &[u16], mut dest: Dest<'_, 'b>) {
        let mut values = self.take();
        self.eval(&switch.value, selection, &mut values);
        // Each row's candidate arms, found by rhai's hash of its value.
        let mut pending: Vec<(u16, &'b [usize], usize)> = Vec::with_capacity(selection.len());
        let mut chosen: Vec<(usize, u16)> = Vec::with_capacity(selection.len());
        let mut unmatched: Vec<u16> = Vec::new();
        for &i in selection {
            let Ok(hash) = switch_hash(values[usize::from(i)]) else {
                self.defer(i);
                continue;
            };
            let arms = hash.and_then(|hash| {
                switch
                    .cases
                    .binary_search_by_key(&hash, |(h, _)| *h)
                    .ok()
                    .map(|k| switch.cases[k].1.as_slice())
            });
            match arms {
                Some(arms) => pending.push((i, arms, 0)),
                None => unmatched.push(i),
            }
        }
        self.give(values);
        // Conditions, in each row's case order; most are `true`.
        while !pending.is_empty() {
            let arm = pending[0].1[pending[0].2];
            let rows: Vec<u16> = pending
                .iter()
                .filter(|(_, arms, next)| arms[*next] == arm)
                .map(|(i, ..)| *i)
                .collect();
            let mut conditions = self.take();
            self.eval(&switch.arms[arm].0, &rows, &mut conditions);
            let mut still = Vec::with_capacity(pending.len());
            for (i, arms, next) in pending {
                if arms[next] != arm {
                    still.push((i, arms, next));
                    continue;
                }
                match conditions[usize::from(i)] {
                    Scalar::Bool(true) => chosen.push((arm, i)),
                    Scalar::Bool(false) if next + 1 < arms.len() => still.push((i, arms, next + 1)),
                    Scalar::Bool(false) => unmatched.push(i),
                    _ => self.defer(i),
                }
            }
            self.give(conditions);
            pending = still;
        }
        match switch.default {
            Some(default) => chosen.extend(unmatched.iter().map(|&i| (default, i))),
            None => {
                unmatched.sort_unstable();
                self.unit(&unmatched, dest.reborrow());
            }
        }
        chosen.sort_unstable();
        for group in chosen.chunk_by(|a, b| a.0 == b.0) {
            let arm = group[0].0;
            let mut rows: Vec<u16> = group.iter().map(|(_, i)| *i).collect();
            self.live(&mut rows);
            self.value(&switch.arms[arm].1, &rows, dest.reborrow());
        }
    }
}

/// rhai's hash of a switch value (`None`: a value rhai does not hash, which takes the default
/// case); `Err` for a value not compiled.
fn switch_hash(value: Scalar<'_>) -> Result<Option<u64>, Defer> {
    let dynamic = match value {
        Scalar::Unit => rhai::Dynamic::UNIT,
        Scalar::Bool(b) => rhai::Dynamic::from_bool(b),
        Scalar::Int(i) => rhai::Dynamic::from_int(i),
        Scalar::Float(f) => rhai::Dynamic::from_float(f),
        Scalar::Str(s) => rhai::Dynamic::from(s.to_string()),
        Scalar::Date(_) | Scalar::Timestamp(_) => return Ok(None),
        Scalar::List(..) | Scalar::Reasons(_) => return Err(Defer),
    };
    let mut hasher = ahash::AHasher::default();
    dynamic.hash(&mut hasher);
    Ok(Some(hasher.finish()))
}
