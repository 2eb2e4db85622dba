//! weir's modules form no import cycle, in any of its crates (`weir-core`, `weir-kafka`,
//! `weir`): each
//! file's `crate::…` and `super::…` paths
//! (outside its tests) name the modules it depends on, and following them never leads
//! back. A cycle (config ⇄ registry, say, or flow → group → changelog → tail → flow, both
//! removed) makes the layers impossible to split into crates and hard to read in order.
//! A parent module leads to its children (what reaches it reaches them); a child's uses of
//! its own ancestors are left out, as a child is part of its parent. Crates cannot form
//! cycles at all (Cargo refuses them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`kafka::flow`) → the source of that module, tests cut off.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> =
                relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"]
                || parts == ["main"]
                || parts.last().is_some_and(|p| p == "tests")
                || parts.is_empty()
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            modules.insert(parts.join("::"), code);
        }
    }
    modules
}

/// The modules `code` (of module `from`) names through `crate::` and `super::` paths,
/// braced groups included.
fn uses(from: &str, code: &str, known: &BTreeMap<String, String>) -> BTreeSet<String> {
    let parent: Vec<&str> =
        from.split("::").collect::<Vec<_>>()[..from.split("::").count() - 1].to_vec();
    let mut found = BTreeSet::new();
    let mut resolve = |path: Vec<String>| {
        for n in (1..=path.len()).rev() {
            let module = path[..n].join("::");
            if known.contains_key(&module) {
                let ancestor = from.starts_with(&format!("{module}::"));
                if module != from && !ancestor {
                    found.insert(module);
                }
                return;
            }
        }
    };
    let bytes = code.as_bytes();
    for root in ["crate::", "super::"] {
        let mut at = 0;
        while let Some(i) = code[at..].find(root).map(|i| at + i) {
            at = i + root.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let mut base: Vec<String> = match root {
                "crate::" => Vec::new(),
                _ => parent.iter().map(|s| s.to_string()).collect(),
            };
            let rest = &code[at..];
            let path_end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let mut path: Vec<String> =
                rest[..path_end].split("::").filter(|s| !s.is_empty()).map(String::from).collect();
            while path.first().is_some_and(|p| p == "super") {
                base.pop();
                path.remove(0);
            }
            // `use crate::{a, b::c}`: each member of the group.
            if rest[path_end..].starts_with('{') {
                let group = &rest
                    [path_end + 1..rest[path_end..].find('}').map_or(rest.len(), |e| path_end + e)];
                for member in group.split(',') {
                    let member: Vec<String> = member
                        .trim()
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    resolve(base.iter().chain(&path).chain(&member).cloned().collect());
                }
            }
            resolve(base.into_iter().chain(path).collect());
        }
    }
    found
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == node) {
            return Some(path[start..].iter().cloned().chain([node.to_string()]).collect());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// Each module → what it uses, and its own child modules (a parent stands for its
/// children: what reaches it reaches them).
fn graph_of(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let children = |name: &str| {
        let prefix = format!("{name}::");
        modules
            .keys()
            .filter(move |m| m.strip_prefix(&prefix).is_some_and(|rest| !rest.contains("::")))
            .cloned()
    };
    modules
        .iter()
        .map(|(name, code)| {
            (name.clone(), uses(name, code, modules).into_iter().chain(children(name)).collect())
        })
        .collect()
}

#[test]
fn the_modules_of_each_crate_import_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let core = modules(&root.join("core/src"));
    assert!(
        core.len() > 30 && core.contains_key("pipeline::aggregate"),
        "the sources are found: {:?}",
        core.keys()
    );
    let graph = graph_of(&core);
    assert!(graph["pipeline"].contains("stage::aggregator"), "crate:: paths are followed");
    assert!(graph["driver::pipeline"].contains("breaker"), "crate:: groups are followed");
    let kafka = modules(&root.join("kafka/src"));
    assert!(graph_of(&kafka)["flow"].contains("group"), "super:: groups are followed");
    let host = modules(&root.join("host/src"));
    for (name, modules) in [("weir-core", core), ("weir-kafka", kafka), ("weir", host)] {
        if let Some(cycle) = cycle(&graph_of(&modules)) {
            panic!("import cycle in {name}: {}", cycle.join(" → "));
        }
    }
}

/// The core runs plugins and nothing else: no Kafka client, no HTTP, no CLI unless asked.
#[test]
fn the_core_crate_links_no_kafka_and_no_http() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/Cargo.toml"))
            .unwrap();
    let dependencies =
        manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    for crate_name in ["rdkafka", "axum", "tokio", "ureq", "native-tls", "hyper"] {
        assert!(
            !dependencies.lines().any(|l| l.starts_with(crate_name)),
            "weir-core depends on {crate_name}"
        );
    }
    // The command line, `--report`'s choices included, is the binary's.
    assert!(!dependencies.lines().any(|l| l.starts_with("clap")), "weir-core depends on clap");
}

/// The check finds a cycle when there is one (so it can fail).
#[test]
fn the_cycle_check_sees_a_cycle_through_super_and_crate_paths() {
    let modules: BTreeMap<String, String> = [
        ("a", "use crate::b::thing;"),
        ("b", "use crate::c;"),
        ("c", "mod x;"),
        ("c::x", "use super::super::{a, b};"),
    ]
    .into_iter()
    .map(|(m, code)| (m.to_string(), code.to_string()))
    .collect();
    let cycle = cycle(&graph_of(&modules)).expect("a → b → c::x → a");
    assert!(cycle.contains(&"a".to_string()) && cycle.contains(&"c::x".to_string()), "{cycle:?}");
}

/// The crates' sources (each file outside its tests), by crate: `weir` is the host's library
/// and its binary.
fn crate_sources(root: &Path) -> Vec<(&'static str, Vec<(String, String)>)> {
    let files = |dir: &str| -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut dirs = vec![root.join(dir)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let code = text.split("#[cfg(test)]").next().unwrap().to_string();
                    found.push((path.strip_prefix(root).unwrap().display().to_string(), code));
                }
            }
        }
        found
    };
    vec![
        ("weir-core", files("core/src")),
        ("weir-kafka", files("kafka/src")),
        ("weir-workshop", files("workshop/src")),
        ("weir", files("host/src")),
    ]
}

/// Each crate names the others by their own names (`weir_core::config`, never a
/// `crate::config` made by re-exporting another crate's module), so the import drawing shows
/// every arrow between crates, and they all point down: weir → weir-kafka → weir-core, and
/// the workshop beside the product: only the binary's commands (`host/src/cmd/`) name it,
/// never weir's library.
#[test]
fn the_crates_name_each_other_and_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let names = [
        ("weir-core", "weir_core::"),
        ("weir-kafka", "weir_kafka::"),
        ("weir-workshop", "weir_workshop::"),
        ("weir", "weir::"),
    ];
    let floor = |name: &str| names.iter().position(|(n, _)| *n == name).unwrap();
    let mut drawing = BTreeMap::new();
    for (from, files) in crate_sources(root) {
        for (file, code) in &files {
            for line in code.lines().map(str::trim_start) {
                assert!(
                    !(line.starts_with("pub use weir_") || line.starts_with("pub use weir::")),
                    "{file} re-exports another crate's items: name them where they are used\n{line}"
                );
            }
            for (to, path) in names {
                let named = code.match_indices(path).any(|(i, _)| {
                    i == 0
                        || !code.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && code.as_bytes()[i - 1] != b'_'
                            && code.as_bytes()[i - 1] != b':'
                });
                if to == "weir-workshop" && named && from == "weir" {
                    assert!(
                        file.starts_with("host/src/cmd/"),
                        "{file} is weir's library and names the workshop: the product does not link it"
                    );
                }
                if to != from && named {
                    // The binary names its own library `weir::`: the same crate, not an arrow.
                    *drawing.entry((from, to)).or_insert(0) += 1;
                }
            }
        }
    }
    eprintln!("imports between crates (files naming the other crate):");
    for ((from, to), files) in &drawing {
        eprintln!("  {from} → {to}: {files}");
    }
    for (from, to) in drawing.keys() {
        assert!(floor(to) < floor(from), "{from} names {to}: the crates point down only");
    }
    for arrow in [("weir", "weir-kafka"), ("weir-kafka", "weir-core"), ("weir", "weir-core")] {
        assert!(drawing.get(&arrow).is_some_and(|n| *n > 3), "{arrow:?} seen: {drawing:?}");
    }
    for arrow in [("weir", "weir-workshop"), ("weir-workshop", "weir-kafka")] {
        assert!(drawing.contains_key(&arrow), "{arrow:?} seen: {drawing:?}");
    }
}

/// Signals are the binary's (as mini-redis: the library takes shutdown as an argument):
/// no library registers a handler, so a program embedding weir's crates keeps its own.
#[test]
fn only_the_binary_handles_signals() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut binary = 0;
    for (name, files) in crate_sources(root) {
        for (file, code) in files {
            let in_binary = file.starts_with("host/src/cmd/") || file == "host/src/main.rs";
            if code.contains("signal_hook::") {
                assert!(in_binary, "{name}'s {file} handles signals: take a stop flag instead");
                binary += 1;
            }
        }
    }
    assert!(binary > 0, "the binary's signal handling is found");
}

/// A library's public API: the modules reachable through `pub mod` from its root, and the
/// public items declared at their top level (methods aside).
fn public_api(src: &Path) -> BTreeMap<String, usize> {
    fn visit(file: &Path, dir: &Path, path: &str, api: &mut BTreeMap<String, usize>) {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let kinds = ["fn ", "struct ", "enum ", "const ", "trait ", "type ", "static ", "use "];
        let items = code
            .lines()
            .filter_map(|l| l.strip_prefix("pub "))
            .filter(|rest| kinds.iter().any(|k| rest.starts_with(k)))
            .count();
        api.insert(if path.is_empty() { "(root)".into() } else { path.to_string() }, items);
        for line in code.lines() {
            let Some(name) = line.strip_prefix("pub mod ").and_then(|r| r.strip_suffix(';')) else {
                continue;
            };
            let child = dir.join(name);
            let file = [dir.join(format!("{name}.rs")), child.join("mod.rs")]
                .into_iter()
                .find(|f| f.exists())
                .unwrap();
            let path = if path.is_empty() { name.to_string() } else { format!("{path}::{name}") };
            visit(&file, &child, &path, api);
        }
    }
    let mut api = BTreeMap::new();
    visit(&src.join("lib.rs"), src, "", &mut api);
    api
}

/// Each library shows a deliberate public API: its other modules are private (or
/// `pub(crate)`), so what a newcomer reads from outside is this list (printed). A new
/// public module is a decision: raise its crate's bound here, with the reason (weir-kafka
/// 14: `settings`, the client settings moved out of the core; weir 16: `report`, the report
/// as people read it, moved out of the core; 17: `init`, a project written by the binary;
/// weir-core 31: `reference`, weir.toml's reference generated from the config types; weir
/// 17 → 14: `bench`, `demo` and `scaffold` moved to the workshop crate; contract 0.3's
/// enrichment tables: weir-core 32 `table`, weir-kafka 15 `table_feed` (a table kept from
/// its topic), weir 15 `served` (tables served from files offline)).
#[test]
fn each_library_keeps_its_public_api_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for (name, src, most_modules) in
        [("weir-core", "core/src", 32), ("weir-kafka", "kafka/src", 15), ("weir", "host/src", 15)]
    {
        let api = public_api(&root.join(src));
        let items: usize = api.values().sum();
        eprintln!("{name}: {} public modules, {items} public items", api.len() - 1);
        for (module, items) in &api {
            eprintln!("  {module}: {items}");
        }
        assert!(
            api.len() - 1 <= most_modules,
            "{name} has {} public modules (bound {most_modules}): {:?}",
            api.len() - 1,
            api.keys()
        );
    }
    let core = public_api(&root.join("core/src"));
    for private in ["breaker", "stage::frame", "plugin::returned", "pipeline::outcome"] {
        assert!(!core.contains_key(private), "{private} is the core's own business");
    }
    assert!(core.contains_key("pipeline") && core.contains_key("stage::validator"));
}

/// The core carries `[kafka]`'s client settings as data: what librdkafka's properties mean,
/// which of them weir's guarantees forbid, and TLS/SASL are weir-kafka's (`settings`).
#[test]
fn kafka_client_settings_live_in_weir_kafka() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let kafka_only = ["enable.auto.offset.store", "SaslConfig", "SecurityConfig", "GUARANTEES"];
    let (_, core) = crate_sources(root).into_iter().find(|(name, _)| *name == "weir-core").unwrap();
    for (file, code) in core {
        let named: Vec<_> = kafka_only.iter().filter(|w| code.contains(*w)).collect();
        assert!(
            named.is_empty(),
            "{file} names {named:?}: Kafka client settings belong to weir-kafka"
        );
    }
    let settings = std::fs::read_to_string(root.join("kafka/src/settings.rs")).unwrap();
    assert!(kafka_only.iter().all(|w| settings.contains(w)), "weir-kafka's settings hold them");
}

/// The libraries tell, the binary says: weir-core, weir-kafka and the workshop write nothing
/// to stdout or stderr themselves (reports, progress and warnings go to the caller's
/// callbacks or to `tracing`; the workshop's `say!` is the binary's `Host::say`), so an
/// embedder decides what a person sees; `say_line` is the binary's crate's.
#[test]
fn the_libraries_print_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let printing = ["println!", "eprintln!", "print!(", "say!", "io::stderr", "io::stdout"];
    let printing_for = |name: &str| match name {
        // Through the host's callback: `weir_workshop::say!` calls `Host::say`.
        "weir-workshop" => &printing[..3],
        _ => &printing[..],
    };
    let mut binary = 0;
    for (name, files) in crate_sources(root) {
        for (file, code) in files {
            let prints: Vec<_> = printing_for(name).iter().filter(|p| code.contains(*p)).collect();
            if name == "weir" {
                binary += usize::from(!prints.is_empty());
                continue;
            }
            assert!(
                prints.is_empty(),
                "{name}'s {file} prints ({prints:?}): take a callback or log"
            );
        }
    }
    assert!(binary > 0, "the binary's printing is found");
}

/// The host's records are its own (`weir_core::record`): the types generated from the
/// WIT stay in the plugin loader, and only the contract adapters (`stage::listed`,
/// `stage::frame`) know how a record crosses, so a new contract version touches no
/// pipeline, Kafka or CLI code.
#[test]
fn the_generated_bindings_stay_in_the_plugin_loader() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut loader = 0;
    for (_, files) in crate_sources(root) {
        for (file, code) in files {
            if !code.contains("bindgen!") && !code.contains("bindings::") {
                continue;
            }
            assert!(
                file.starts_with("core/src/plugin/"),
                "{file} uses the bindings generated from the WIT: use weir_core::record's types"
            );
            loader += 1;
        }
    }
    assert!(loader > 0, "the bindings are found where they are generated");
}
