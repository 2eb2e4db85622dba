//! Which version of the contract (`weir:plugin`, `wit/weir.wit`) a component was built
//! against, read from the interface names it imports and exports
//! (`weir:plugin/types@0.1.0`, …), and whether this host runs it.

use std::fmt;
use wasmtime::component::Component;
use wasmtime::Engine;

/// A contract version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

/// The versions this host runs, oldest first.
pub const KNOWN: &[Version] = &[Version(0, 1, 0), Version(0, 2, 0), Version(0, 3, 0)];

/// Contract 0.2: batches and answers cross as one buffer each (`frame`).
pub const FRAMED: Version = Version(0, 2, 0);

/// Contract 0.3: plugins read the tables their stage names (`tables`).
pub const TABLES: Version = Version(0, 3, 0);

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
        let version = Version(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(version)
    }

    /// Whether batches cross as frames (0.2 on) rather than as lists of records.
    pub fn framed(self) -> bool {
        self >= FRAMED
    }

    /// The newest version this host runs.
    pub fn newest_known() -> Version {
        *KNOWN.last().expect("at least one version")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "weir:plugin@{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The newest `weir:plugin` version among a component's imports and exports; `None` if it
/// names none (it is then no weir plugin, which loading says in its own words).
pub fn version_of(component: &Component, engine: &Engine) -> Option<Version> {
    let ty = component.component_type();
    let names =
        ty.imports(engine).map(|(name, _)| name).chain(ty.exports(engine).map(|(name, _)| name));
    names.filter_map(version_in).max()
}

/// `weir:plugin/types@0.1.0` → 0.1.0.
fn version_in(name: &str) -> Option<Version> {
    let (_, version) = name.strip_prefix("weir:plugin/")?.split_once('@')?;
    Version::parse(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_interface_names_and_ordered() {
        assert_eq!(version_in("weir:plugin/types@0.1.0"), Some(Version(0, 1, 0)));
        assert_eq!(version_in("weir:plugin/aggregate@0.12.3"), Some(Version(0, 12, 3)));
        assert_eq!(version_in("wasi:io/poll@0.2.6"), None);
        assert_eq!(version_in("weir:plugin/types@0.1"), None);
        assert!(Version(0, 2, 0) > Version(0, 1, 9) && Version(1, 0, 0) > Version(0, 9, 9));
        assert_eq!(Version(0, 1, 0).to_string(), "weir:plugin@0.1.0");
    }
}
