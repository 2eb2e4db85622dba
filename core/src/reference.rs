//! References that cannot go stale: weir.toml's, generated from the config types (their
//! doc comments and defaults, through `schemars`), and a plugin's, from the JSON Schema
//! of its config. Markdown, one table per section.

use serde_json::Value;
use std::fmt::Write;

/// The weir.toml reference: every section and key, its type, default and meaning.
pub fn weir_toml() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(crate::config::Config))
        .expect("a schema is JSON");
    let mut out = String::from(
        "# weir.toml reference\n\nGenerated from the config types by `weir reference` (a test fails when this file\ndiffers from the code). Paths are relative to the file. A key left out takes its default;\n\"—\" means none (the feature is off, or derived as the meaning says).\n",
    );
    let mut sections = Vec::new();
    let mut seen = Vec::new();
    // Keys holding the same struct (the stages) share one section, named by all of them.
    let mut groups: Vec<(Option<&str>, Vec<&String>, Vec<String>)> = Vec::new();
    for (key, property) in schema["properties"].as_object().into_iter().flatten() {
        let def = struct_of(property).and_then(def_name);
        let meaning = property["description"].as_str().map(one_line).unwrap_or_default();
        match groups.iter_mut().find(|(d, _, _)| def.is_some() && *d == def) {
            Some((_, keys, meanings)) => {
                keys.push(key);
                meanings.push(meaning);
            }
            None => groups.push((def, vec![key], vec![meaning])),
        }
    }
    for (_, keys, meanings) in groups {
        let property = &schema["properties"][keys[0].as_str()];
        let Some(inner) = struct_of(property) else { continue };
        let (path, meaning) = match keys.len() {
            1 => (keys[0].clone(), meanings[0].clone()),
            _ => {
                let each: Vec<String> =
                    keys.iter().zip(&meanings).map(|(k, m)| format!("`[{k}]`: {m}")).collect();
                ("STAGE".to_string(), format!("One stage each, the same keys. {}", each.join(" ")))
            }
        };
        let heading = keys.iter().map(|k| format!("`[{k}]`")).collect::<Vec<_>>().join(", ");
        let before = sections.len();
        section(&schema, inner, &path, &heading, &mut sections, &mut seen);
        if let Some(entry) = sections.get_mut(before) {
            entry.1 = meaning;
        }
    }
    for (heading, meaning, table) in sections {
        let _ = write!(out, "\n## {heading}\n\n");
        if !meaning.is_empty() {
            let _ = writeln!(out, "{meaning}\n");
        }
        out.push_str(&table);
    }
    out
}

/// A plugin's config reference from the JSON Schema it carries.
pub fn plugin_config(name: &str, schema: &Value) -> String {
    let mut out = format!("## {name}\n\n");
    if let Some(text) = schema["description"].as_str() {
        let _ = writeln!(out, "{}\n", one_line(text));
    }
    out.push_str(&table(schema, schema));
    if schema["additionalProperties"] == Value::Bool(false) {
        out.push_str("\nNo other keys.\n");
    }
    out
}

/// Collects `(heading, meaning, table)` for the struct at `node` (its keys under `path`),
/// then for each key holding a struct of its own (a sub-section), depth first. A struct
/// met again points at its first section instead of repeating it.
fn section(
    root: &Value,
    node: &Value,
    path: &str,
    heading: &str,
    out: &mut Vec<(String, String, String)>,
    seen: &mut Vec<(String, String)>,
) {
    if let Some(name) = def_name(node) {
        if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
            out.push((heading.to_string(), String::new(), format!("The keys of {first}.\n")));
            return;
        }
        seen.push((name.to_string(), heading.to_string()));
    }
    let node = resolve(root, node);
    out.push((heading.to_string(), String::new(), table(root, node)));
    let Some(properties) = node["properties"].as_object() else { return };
    for (key, property) in properties {
        let Some(inner) = struct_of(property) else { continue };
        if !resolve(root, inner)["properties"].is_object() {
            continue;
        }
        let path = format!("{path}.{key}");
        let before = out.len();
        section(root, inner, &path, &format!("`[{path}]`"), out, seen);
        if let (Some(entry), Some(text)) = (out.get_mut(before), property["description"].as_str()) {
            entry.1 = one_line(text);
        }
    }
}

/// The `$ref` to a struct a property holds (itself, optional, a list or a map), if any.
fn struct_of(property: &Value) -> Option<&Value> {
    let candidates = [
        Some(property),
        property["anyOf"].as_array().and_then(|a| a.iter().find(|v| v["type"] != "null")),
        property.get("items"),
        property.get("additionalProperties").filter(|v| v.is_object()),
    ];
    candidates.into_iter().flatten().find(|v| def_name(v).is_some())
}

fn def_name(node: &Value) -> Option<&str> {
    node["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/"))
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match def_name(node) {
        Some(name) => &root["$defs"][name],
        None => node,
    }
}

/// | key | type | default | meaning |, one row per property.
fn table(root: &Value, node: &Value) -> String {
    let mut out = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    let required: Vec<&str> = node["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = node["properties"].as_object() else { return out };
    for (key, property) in properties {
        let default = match &property["default"] {
            _ if required.contains(&key.as_str()) => "required".to_string(),
            Value::Null => "—".to_string(),
            Value::Object(map) if map.is_empty() => "—".to_string(),
            Value::Array(list) if list.is_empty() => "—".to_string(),
            Value::Object(_) => "see below".to_string(),
            Value::String(text) if text.is_empty() => "—".to_string(),
            value => format!("`{value}`"),
        };
        let meaning = property["description"].as_str().map(one_line).unwrap_or_default();
        let _ = writeln!(
            out,
            "| `{key}` | {} | {default} | {} |",
            type_of(root, property),
            meaning.replace('|', "\\|")
        );
    }
    out
}

fn type_of(root: &Value, property: &Value) -> String {
    let property = resolve(root, property);
    if let Some(values) = property["enum"].as_array() {
        return values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" \\| ");
    }
    if let Some(one_of) = property["oneOf"].as_array() {
        let consts: Vec<String> =
            one_of.iter().filter_map(|v| v.get("const")).map(|v| format!("`{v}`")).collect();
        if consts.len() == one_of.len() {
            return consts.join(" \\| ");
        }
    }
    if let Some(any_of) = property["anyOf"].as_array() {
        let kinds: Vec<String> =
            any_of.iter().filter(|v| v["type"] != "null").map(|v| type_of(root, v)).collect();
        return kinds.join(" or ");
    }
    let kinds: Vec<&str> = match &property["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => {
            kinds.iter().filter_map(Value::as_str).filter(|k| *k != "null").collect()
        }
        _ => vec![],
    };
    let named: Vec<String> = kinds
        .iter()
        .map(|kind| match *kind {
            "object" if property["properties"].is_object() => "table".to_string(),
            "object" => match property.get("additionalProperties").map(|v| resolve(root, v)) {
                Some(Value::Object(inner)) if inner.get("type").is_some_and(|t| t == "string") => {
                    "table of strings".to_string()
                }
                _ => "table".to_string(),
            },
            "array" => format!("list of {}", type_of(root, &property["items"])),
            other => other.to_string(),
        })
        .collect();
    if named.is_empty() {
        "any".into()
    } else {
        named.join(" or ")
    }
}

/// A doc comment's first paragraph on one line, a `<` outside code spans escaped (Markdown
/// would take `v<major>` for an HTML tag).
fn one_line(text: &str) -> String {
    let line =
        text.split("\n\n").next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    line.split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 0 { part.replace('<', "\\<") } else { part.to_string() })
        .collect::<Vec<_>>()
        .join("`")
}

#[cfg(test)]
mod tests {
    /// Every key of weir.toml says what it means: a field without a doc comment fails.
    #[test]
    fn every_key_has_a_meaning() {
        let reference = super::weir_toml();
        let silent: Vec<&str> =
            reference.lines().filter(|l| l.starts_with("| `") && l.ends_with("|  |")).collect();
        assert!(silent.is_empty(), "keys without a doc comment: {silent:#?}");
        for heading in [
            "## `[kafka]`",
            "## `[validate]`, `[transform]`, `[aggregate]`",
            "## `[STAGE.limits]`",
            "## `[STAGE.window]`",
            "## `[repair]`",
            "## `[topics]`",
            "## `[metrics]`",
        ] {
            assert!(reference.contains(heading), "{heading}:\n{reference}");
        }
    }
}
