//! `weir plugin inspect` and `weir plugin test`: look at and try one plugin on its own.

use crate::dead_letter::DeadLetterLine;
use crate::report::Format;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;
use wasmtime::component::types::{ComponentItem, Type};
use weir_core::config::{Config, StageConfig};
use weir_core::plugin::limits::Limits;
use weir_core::plugin::{Runtime, World};
use weir_core::record::{Damaged, Record};
use weir_core::report::Report;
use weir_core::stage::aggregator::Aggregate;
use weir_core::stage::repairer::Repair;
use weir_core::stage::transformer::{Emitted, Transform, Transformed};
use weir_core::stage::validator::Validate;
use weir_core::stage::Stage;

/// The world, exports and imports of a component, as text.
pub fn inspect(runtime: &Runtime, path: &Path) -> anyhow::Result<String> {
    let started = Instant::now();
    let plugin = runtime.load(path)?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let engine = runtime.engine();
    let ty = plugin.component.component_type();
    let mut out = String::new();
    let _ = writeln!(out, "{}", path.display());
    let _ = writeln!(out, "  world:   {} ({})", plugin.world, plugin.contract);
    let _ = writeln!(
        out,
        "  size:    {:.1} KiB, loaded in {} ms ({})",
        size as f64 / 1024.0,
        started.elapsed().as_millis(),
        if plugin.from_cache { "compile cache hit" } else { "compiled now" }
    );
    let _ = writeln!(out, "  exports:");
    for (name, item) in ty.exports(engine) {
        let _ = writeln!(out, "    {name}: {}", describe_item(&item.ty));
    }
    let _ = writeln!(out, "  imports:");
    for (name, item) in ty.imports(engine) {
        let _ = writeln!(out, "    {name}: {}", describe_item(&item.ty));
    }
    let bytes = std::fs::read(path)?;
    match weir_core::plugin::config_schema(&bytes).map_err(anyhow::Error::msg)? {
        Some(schema) => out.push_str(&describe_config(&schema)),
        None => out.push_str("  config:  no schema (the plugin does not describe its config)\n"),
    }
    Ok(out)
}

/// The config schema a plugin carries, as JSON (`None`: it carries none).
pub fn config_schema(path: &Path) -> anyhow::Result<Option<serde_json::Value>> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    weir_core::plugin::config_schema(&bytes).map_err(anyhow::Error::msg)
}

/// A config schema's keys, one line each: type, default, whether required, meaning.
fn describe_config(schema: &serde_json::Value) -> String {
    let mut out =
        String::from("  config:  (the plugin's schema; --config-schema prints it as JSON)\n");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|k| k.as_str()).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else { return out };
    for (key, property) in properties {
        let ty = match (&property["type"], &property["enum"]) {
            (serde_json::Value::Null, serde_json::Value::Array(values)) => {
                values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" | ")
            }
            (serde_json::Value::String(ty), _) => ty.clone(),
            (serde_json::Value::Array(types), _) => {
                types.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>().join(" | ")
            }
            _ => "any".into(),
        };
        let default = match &property["default"] {
            serde_json::Value::Null if required.contains(&key.as_str()) => ", required".into(),
            serde_json::Value::Null => String::new(),
            value => format!(", default {value}"),
        };
        let meaning = property["description"].as_str().unwrap_or("");
        let _ = writeln!(out, "    {key} ({ty}{default}): {meaning}");
    }
    if schema["additionalProperties"] == serde_json::Value::Bool(false) {
        out.push_str("    (no other keys)\n");
    }
    out
}

fn describe_item(item: &ComponentItem) -> String {
    match item {
        ComponentItem::ComponentFunc(f) => {
            let params: Vec<String> =
                f.params().map(|(n, t)| format!("{n}: {}", describe(&t))).collect();
            let results: Vec<String> = f.results().map(|t| describe(&t)).collect();
            match results.as_slice() {
                [] => format!("func({})", params.join(", ")),
                _ => format!("func({}) -> {}", params.join(", "), results.join(", ")),
            }
        }
        ComponentItem::ComponentInstance(_) => "instance".into(),
        ComponentItem::Resource(_) => "resource".into(),
        ComponentItem::Type(t) => format!("type {}", describe(t)),
        _ => "other".into(),
    }
}

fn describe(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", describe(&l.ty())),
        Type::Option(o) => format!("option<{}>", describe(&o.ty())),
        Type::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map(|t| describe(&t)).unwrap_or_else(|| "_".into()),
            r.err().map(|t| describe(&t)).unwrap_or_else(|| "_".into())
        ),
        Type::Record(r) => {
            format!("record{{{}}}", r.fields().map(|f| f.name).collect::<Vec<_>>().join(", "))
        }
        Type::Variant(v) => {
            format!("variant{{{}}}", v.cases().map(|c| c.name).collect::<Vec<_>>().join(", "))
        }
        Type::Enum(e) => format!("enum{{{}}}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}

/// A stage config for one plugin, from a TOML or JSON file, resolved exactly as a
/// weir.toml stage's is (`resolve`): a `schema` path or `registry://` reference becomes the
/// document, `resources` the documents they name, relative to the file's directory.
pub fn stage_config_json(path: Option<&Path>, plugin: &Path) -> anyhow::Result<String> {
    let Some(path) = path else {
        return Ok("{}".into());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    let table: toml::Table = if path.extension().is_some_and(|e| e == "json") {
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("config {} is not JSON", path.display()))?;
        toml::Table::try_from(json).with_context(|| {
            format!("config {} is not a JSON object TOML can hold (no nulls)", path.display())
        })?
    } else {
        toml::from_str(&text).with_context(|| format!("config {} is not TOML", path.display()))?
    };
    // The file stands for a weir.toml holding only this stage: paths resolve beside it.
    let config = Config::parse("", path)?;
    if table.get("schema").and_then(|s| s.as_str()) == Some(weir_core::format::WRITERS_SCHEMA) {
        anyhow::bail!(
            "config {}: `schema = \"{}\"` takes each record's schema from its Confluent framing, and a sample \
             file holds JSON lines: name the schema here (a file, or registry://SUBJECT[@VERSION])",
            path.display(),
            weir_core::format::WRITERS_SCHEMA
        );
    }
    let stage = StageConfig {
        name: None,
        // Absolute: the plugin's config schema is read from it (a relative path would be
        // taken as beside the stage file).
        plugin: std::path::absolute(plugin).unwrap_or_else(|_| plugin.to_path_buf()),
        config: table,
        limits: Limits::default(),
        outputs: Default::default(),
        window: None,
        tables: Vec::new(),
    };
    Ok(crate::resolve::stage_json(&config, "", &stage)?)
}

/// Runs one plugin over a sample file and prints what it makes of each line; it may read
/// every table in `tables`.
pub fn test(
    runtime: &Runtime,
    path: &Path,
    input: &Path,
    config: Option<&Path>,
    tables: &weir_core::table::Tables,
) -> anyhow::Result<String> {
    let tables = weir_core::table::Grant::new(tables.iter().cloned().collect());
    let plugin = runtime.load(path)?;
    let json = stage_config_json(config, path)?;
    let text =
        std::fs::read(input).with_context(|| format!("cannot read input {}", input.display()))?;
    let messages: Vec<Record> = text
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| {
            let value = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
            Record::read_from(&input.display().to_string(), 0, i as i64 + 1, value)
        })
        .collect();
    let limits = Limits::default();
    let name = "test";
    let mut out = String::new();
    let line = |m: &Record| m.offset;
    match plugin.world {
        World::Validator => {
            let mut stage = Stage::<Validate>::reading(name, &plugin, json, limits, tables)?;
            for (m, r) in messages.iter().zip(stage.run(&messages)) {
                let _ = match r {
                    Ok(Ok(())) => writeln!(out, "line {}: valid", line(m)),
                    Ok(Err(vs)) => writeln!(
                        out,
                        "line {}: invalid: {}",
                        line(m),
                        weir_core::pipeline::summary(&vs)
                    ),
                    Err(fault) => writeln!(out, "line {}: plugin {}", line(m), fault),
                };
            }
        }
        World::Transformer => {
            let mut stage = Stage::<Transform>::reading(name, &plugin, json, limits, tables)?;
            for (m, r) in messages.iter().zip(stage.run(&messages)) {
                let _ = match r {
                    Ok(Ok(Transformed::Value(value))) => {
                        writeln!(out, "line {}: {}", line(m), String::from_utf8_lossy(&value))
                    }
                    Ok(Ok(Transformed::Records(records))) if records.is_empty() => {
                        writeln!(out, "line {}: filtered out", line(m))
                    }
                    Ok(Ok(Transformed::Records(records))) => {
                        let shown: Vec<String> = records.iter().map(describe_emitted).collect();
                        writeln!(out, "line {}: {}", line(m), shown.join(" | "))
                    }
                    Ok(Err(reason)) => writeln!(out, "line {}: error: {reason}", line(m)),
                    Err(fault) => writeln!(out, "line {}: plugin {}", line(m), fault),
                };
            }
        }
        World::Repairer => {
            let mut stage = Stage::<Repair>::reading(name, &plugin, json, limits, tables)?;
            let damaged: Vec<Damaged> = messages
                .iter()
                .map(|m| match serde_json::from_slice::<DeadLetterLine>(&m.value) {
                    Ok(letter) => Damaged {
                        message: Record {
                            value: letter.value_bytes().unwrap_or_default(),
                            ..m.clone()
                        },
                        violations: letter.violations,
                    },
                    Err(_) => Damaged { message: m.clone(), violations: Vec::new() },
                })
                .collect();
            for (m, r) in messages.iter().zip(stage.run(&damaged)) {
                use weir_core::record::RepairOutcome;
                let _ = match r {
                    Ok(RepairOutcome::Repaired(value)) => {
                        writeln!(
                            out,
                            "line {}: repaired: {}",
                            line(m),
                            String::from_utf8_lossy(&value)
                        )
                    }
                    Ok(RepairOutcome::Unrepairable(reason)) => {
                        writeln!(out, "line {}: unrepairable: {reason}", line(m))
                    }
                    Err(fault) => writeln!(out, "line {}: plugin {}", line(m), fault),
                };
            }
        }
        World::Aggregator => {
            let mut stage = Stage::<Aggregate>::reading(name, &plugin, json, limits, tables)?;
            let faults = stage.run(&messages).iter().filter(|r| r.is_err()).count();
            let stats = weir_core::pipeline::Stats {
                records_in: messages.len() as u64,
                processed: (messages.len() - faults) as u64,
                dead_letters: 0,
                aggregate_faults: faults as u64,
                analytics_resets: stage.take_lost_states(),
                ..Default::default()
            };
            let analytics = stage.report()?;
            let report = Report {
                stats: &stats,
                extra: vec![],
                analytics: Some((weir_core::pipeline::plugin_name(path), analytics)),
                partitions: vec![],
                windows: None,
            };
            out.push_str(&crate::report::render(&report, Format::Text));
        }
    }
    Ok(out)
}

/// An emitted record as `plugin test` shows it: the value, then any key, headers and
/// output it was given.
fn describe_emitted(e: &Emitted) -> String {
    let mut text = String::from_utf8_lossy(&e.value).into_owned();
    if let Some(key) = &e.key {
        text += &format!(" [key {}]", String::from_utf8_lossy(key));
    }
    for h in &e.headers {
        text += &format!(" [{}: {}]", h.key, String::from_utf8_lossy(&h.value));
    }
    if let Some(output) = &e.output {
        text += &format!(" → output `{output}`");
    }
    text
}
