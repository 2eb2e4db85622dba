//! Bounds what one call may hand back to the host.
//!
//! Lifting a call's results copies every string and list out of guest memory. Results
//! that all point at one large buffer would make the host copy it once per result, far
//! past the guest's own memory limit. So the strings and lists of a call's results are
//! lifted as `Bounded<T>`, which charges each one against the call's budget *before* it
//! is copied; a call over budget fails as a memory fault, with nothing copied beyond it.

use super::limiter::LimitExceeded;
use std::cell::Cell;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentNamedList, ComponentType, Func, Instance, Lift, Lower};
use wasmtime::{AsContextMut, ValRaw};

thread_local! {
    /// Bytes the running call may still return; `None` outside a bounded call.
    static LEFT: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// Runs `call` with `budget` bytes for its returned strings and lists.
pub fn bounded<R>(budget: usize, call: impl FnOnce() -> R) -> R {
    let outer = LEFT.replace(Some((budget, budget)));
    let result = call();
    LEFT.set(outer);
    result
}

/// Charges `bytes` against the running call's budget (nothing outside a bounded call).
pub fn charge(bytes: usize) -> wasmtime::Result<()> {
    LEFT.with(|left| match left.get() {
        None => Ok(()),
        Some((remaining, budget)) if bytes <= remaining => {
            left.set(Some((remaining - bytes, budget)));
            Ok(())
        }
        Some((remaining, budget)) => {
            left.set(Some((0, budget)));
            Err(LimitExceeded::Returned { desired: budget - remaining + bytes, max: budget }.into())
        }
    })
}

/// A string or list in a call's results, charged against the call's budget when lifted.
#[derive(Debug)]
pub struct Bounded<T>(pub T);

impl<T> Bounded<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Types the canonical ABI passes as (pointer, length): strings and lists.
pub trait Sequence: Lift<Lower = [ValRaw; 2]> {
    /// Bytes of guest memory per unit of length.
    const UNIT: usize;
}

impl Sequence for String {
    const UNIT: usize = 1;
}

impl<E: Lift> Sequence for Vec<E> {
    const UNIT: usize = if E::SIZE32 == 0 { 1 } else { E::SIZE32 };
}

// SAFETY: same lowered form, ABI and type check as `T`, to which lifting is delegated.
unsafe impl<T: Sequence> ComponentType for Bounded<T> {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = T::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        T::typecheck(ty, types)
    }
}

// SAFETY: reads only the length word before delegating to `T`, which validates everything.
unsafe impl<T: Sequence> Lift for Bounded<T> {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &[ValRaw; 2],
    ) -> wasmtime::Result<Self> {
        charge((src[1].get_u32() as usize).saturating_mul(T::UNIT))?;
        T::linear_lift_from_flat(cx, ty, src).map(Bounded)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let len = u32::from_le_bytes(bytes[4..8].try_into().expect("a pointer pair is 8 bytes"));
        charge((len as usize).saturating_mul(T::UNIT))?;
        T::linear_lift_from_memory(cx, ty, bytes).map(Bounded)
    }
}

/// An export of `instance` (inside the exported interface `interface`, if given), checked
/// once against the parameter and result types it will be called with.
pub fn export<P, R>(
    instance: &Instance,
    mut store: impl AsContextMut,
    interface: Option<&str>,
    name: &str,
) -> wasmtime::Result<Func>
where
    P: ComponentNamedList + Lower,
    R: ComponentNamedList + Lift,
{
    let mut store = store.as_context_mut();
    let missing = || wasmtime::format_err!("the component has no export `{name}`");
    let func = match interface {
        None => instance.get_func(&mut store, name).ok_or_else(missing)?,
        Some(interface) => {
            let parent =
                instance.get_export_index(&mut store, None, interface).ok_or_else(missing)?;
            let index =
                instance.get_export_index(&mut store, Some(&parent), name).ok_or_else(missing)?;
            instance.get_func(&mut store, index).ok_or_else(missing)?
        }
    };
    func.typed::<P, R>(&store)?;
    Ok(func)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_until_the_budget_is_spent_and_only_inside_a_bounded_call() {
        bounded(10, || {
            assert!(charge(6).is_ok());
            assert!(charge(4).is_ok());
            let over = charge(1).unwrap_err();
            assert_eq!(
                over.downcast_ref::<LimitExceeded>(),
                Some(&LimitExceeded::Returned { desired: 11, max: 10 })
            );
        });
        assert!(charge(usize::MAX).is_ok(), "no budget outside a bounded call");
    }

    /// `Bounded` implements `Lift` through `wasmtime::component::__internal`, which has no
    /// stability promise. Its tests (here and the oversize-result integration tests) were
    /// written against wasmtime 48.0; another minor version must be checked by hand
    /// before this line moves.
    #[test]
    fn wasmtime_is_the_line_bounded_lifting_was_checked_against() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        let version = lock
            .split("[[package]]")
            .find(|p| p.contains("\nname = \"wasmtime\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .expect("wasmtime in Cargo.lock");
        assert!(
            version.starts_with("48.0."),
            "wasmtime {version}: re-check `Bounded`'s Lift against it, then update this test"
        );
    }
}
