//! Finding the records a plugin fails on: the batch is called whole, and while a call
//! fails it is split in halves, each retried (on a fresh instance), down to the records
//! that fail alone. Only those fail; the rest of the batch goes on, in order.

use crate::plugin::{Fault, FaultKind};

/// One result per input, in order. `call` answers a slice with one output per input or a
/// fault; a fault making an instance (no record to blame) fails every record at once.
pub fn bisect<I, O>(
    batch: &[I],
    call: &mut impl FnMut(&[I]) -> Result<Vec<O>, Fault>,
) -> Vec<Result<O, Fault>> {
    if batch.is_empty() {
        return Vec::new();
    }
    match call(batch) {
        Ok(outputs) => outputs.into_iter().map(Ok).collect(),
        Err(fault) if fault.kind == FaultKind::Instantiate => {
            batch.iter().map(|_| Err(fault.clone())).collect()
        }
        Err(fault) if batch.len() == 1 => vec![Err(fault)],
        Err(_) => {
            let (left, right) = batch.split_at(batch.len() / 2);
            let mut results = bisect(left, call);
            results.extend(bisect(right, call));
            results
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A native stand-in for a plugin: doubles each input, traps on any batch holding a
    /// poison one.
    fn doubling<'a>(
        poison: &'a [bool],
        calls: &'a mut usize,
    ) -> impl FnMut(&[usize]) -> Result<Vec<usize>, Fault> + 'a {
        move |batch| {
            *calls += 1;
            match batch.iter().any(|&i| poison[i]) {
                true => Err(Fault::new(FaultKind::Trap, "poison")),
                false => Ok(batch.iter().map(|i| i * 2).collect()),
            }
        }
    }

    proptest! {
        #[test]
        fn exactly_the_poison_records_fail_and_the_rest_keep_their_order(poison in prop::collection::vec(prop::bool::weighted(0.1), 0..300)) {
            let inputs: Vec<usize> = (0..poison.len()).collect();
            let mut calls = 0;
            let results = bisect(&inputs, &mut doubling(&poison, &mut calls));
            prop_assert_eq!(results.len(), inputs.len());
            for (i, result) in results.iter().enumerate() {
                match result {
                    Ok(doubled) => prop_assert!(!poison[i] && *doubled == i * 2),
                    Err(fault) => prop_assert!(poison[i] && fault.kind == FaultKind::Trap),
                }
            }
            // Each poison record costs at most two calls per level of halving.
            let bad = poison.iter().filter(|p| **p).count();
            let levels = usize::BITS - inputs.len().leading_zeros();
            prop_assert!(calls <= 1 + 2 * bad * levels as usize, "{} calls for {} poison records in {}", calls, bad, inputs.len());
        }
    }

    #[test]
    fn no_instance_fails_every_record_without_splitting() {
        let mut calls = 0;
        let results = bisect(&[1, 2, 3], &mut |_: &[i32]| -> Result<Vec<()>, Fault> {
            calls += 1;
            Err(Fault::new(FaultKind::Instantiate, "no instance"))
        });
        assert_eq!((results.iter().filter(|r| r.is_err()).count(), calls), (3, 1));
    }
}
