//! Host-side bindings for the WIT contract in `wit/`, one module per world and version:
//! contract 0.1 (`wit/0.1.0/`) at the top, contract 0.2 (`wit/0.2.0/`) in `v2`, contract 0.3
//! (`wit/weir.wit`) in `v3`.
//!
//! The shared `types` and `host` interfaces are generated once per version (in
//! `validator`) and reused by the other worlds. They serve to link the host's imports
//! (`host`) and to check a component's exports at load (`World::type_check`); the
//! records the host passes are its own (`crate::record`), lowered by each contract's
//! adapter in `stage`.

pub mod validator {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "validator",
    });
}

pub mod transformer {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "transformer",
        with: {
            "weir:plugin/types": super::validator::weir::plugin::types,
            "weir:plugin/host": super::validator::weir::plugin::host,
        },
    });
}

pub mod repairer {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "repairer",
        with: {
            "weir:plugin/types": super::validator::weir::plugin::types,
            "weir:plugin/host": super::validator::weir::plugin::host,
        },
    });
}

pub mod aggregator {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "aggregator",
        with: {
            "weir:plugin/types": super::validator::weir::plugin::types,
            "weir:plugin/host": super::validator::weir::plugin::host,
        },
    });
}

/// Contract 0.2: the batch crosses as one buffer (`frame`) in every world.
pub mod v2 {
    pub mod validator {
        wasmtime::component::bindgen!({ path: "../wit/0.2.0", world: "validator" });
    }

    pub mod transformer {
        wasmtime::component::bindgen!({
            path: "../wit/0.2.0",
            world: "transformer",
            with: {
                "weir:plugin/types": super::validator::weir::plugin::types,
                "weir:plugin/host": super::validator::weir::plugin::host,
            },
        });
    }

    pub mod repairer {
        wasmtime::component::bindgen!({
            path: "../wit/0.2.0",
            world: "repairer",
            with: {
                "weir:plugin/types": super::validator::weir::plugin::types,
                "weir:plugin/host": super::validator::weir::plugin::host,
            },
        });
    }

    pub mod aggregator {
        wasmtime::component::bindgen!({
            path: "../wit/0.2.0",
            world: "aggregator",
            with: {
                "weir:plugin/types": super::validator::weir::plugin::types,
                "weir:plugin/host": super::validator::weir::plugin::host,
            },
        });
    }

    pub use validator::weir::plugin::host;
}

/// Contract 0.3: 0.2 and the `tables` a plugin reads.
pub mod v3 {
    pub mod validator {
        wasmtime::component::bindgen!({ path: "../wit", world: "validator" });
    }

    pub mod transformer {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "transformer",
            with: {
                "weir:plugin/types": super::validator::weir::plugin::types,
                "weir:plugin/host": super::validator::weir::plugin::host,
                "weir:plugin/tables": super::validator::weir::plugin::tables,
            },
        });
    }

    pub mod repairer {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "repairer",
            with: {
                "weir:plugin/types": super::validator::weir::plugin::types,
                "weir:plugin/host": super::validator::weir::plugin::host,
                "weir:plugin/tables": super::validator::weir::plugin::tables,
            },
        });
    }

    pub mod aggregator {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "aggregator",
            with: {
                "weir:plugin/types": super::validator::weir::plugin::types,
                "weir:plugin/host": super::validator::weir::plugin::host,
                "weir:plugin/tables": super::validator::weir::plugin::tables,
            },
        });
    }

    pub use validator::weir::plugin::{host, tables};
}

pub use validator::weir::plugin::host;
