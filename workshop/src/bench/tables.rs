//! An enrichment table of `keys` keys with 200-byte values (contract 0.3), in memory and
//! then past a small memory bound on disk: rebuilt from a topic of the embedded broker (what
//! `weir run` does at start), the memory it takes, a lookup natively, and `login-enricher`
//! (one lookup per record) in wasm.

use super::{status_mib, MemoryAfter};
use crate::embedded::EmbeddedBroker;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::config::Config;
use weir_core::plugin::limits::Limits;
use weir_core::plugin::Runtime;
use weir_core::stage::transformer::Transform;
use weir_core::stage::Stage;
use weir_core::table::Grant;
use weir_kafka::flow::{self, Outgoing};

/// Bytes of each value: a user profile.
pub const VALUE_BYTES: usize = 200;

/// What a partition of the embedded broker keeps at most (it drops the oldest past 5 MiB).
const BYTES_PER_PARTITION: usize = 4 << 20;

/// The memory bound of the table measured on disk: a quarter of its size, at most this.
const DISK_MEMORY_MIB: u64 = 32;

#[derive(Debug, Serialize, Deserialize, Default, Clone)]
#[serde(default)]
pub struct TableCost {
    pub keys: usize,
    pub value_bytes: usize,
    /// The table in memory (its bound above its size).
    pub memory: Placed,
    /// The table past a memory bound of `disk_memory_mib`: on disk.
    pub disk: Placed,
    pub disk_memory_mib: u64,
}

/// One table, as kept in one place.
#[derive(Debug, Serialize, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Placed {
    /// Reading the table's topic from the embedded broker to its end, seconds.
    pub rebuild_s: f64,
    /// The process's peak resident set while the table was rebuilt, beyond what it was
    /// before (the table, its consumer, the store on disk's cache), MiB.
    pub rss_mib: f64,
    /// What the table counts against its bounds (keys, values, 128 B an entry).
    pub counted_mib: f64,
    /// The store's file on disk, MiB (0 in memory).
    pub file_mib: f64,
    /// One lookup from native code, µs.
    pub lookup_native_us: f64,
    /// `login-enricher` in wasm, µs per record: a lookup, the profile's fields copied.
    pub enricher_us: f64,
}

pub fn measure(
    runtime: &Runtime,
    config: &Config,
    keys: usize,
    events: &[weir_core::record::Record],
    memory: &mut Vec<MemoryAfter>,
) -> anyhow::Result<TableCost> {
    let users: Vec<String> = events.iter().filter_map(user_id).collect();
    let profile = |i: usize| {
        let text = format!(r#"{{"country":"C{}","plan":"pro","since":{i},"pad":""}}"#, i % 200);
        let pad = VALUE_BYTES.saturating_sub(text.len());
        text.replace(r#""pad":"""#, &format!(r#""pad":"{}""#, "x".repeat(pad)))
    };
    let key = |i: usize| users.get(i).cloned().unwrap_or_else(|| format!("user-{i}"));

    let broker = EmbeddedBroker::start(1)?;
    let partitions = (keys * (VALUE_BYTES + 64)).div_ceil(BYTES_PER_PARTITION).max(1) as i32;
    broker.create_topic("profiles", partitions, 1)?;
    let mut properties = std::collections::BTreeMap::new();
    EmbeddedBroker::tune(&mut properties);
    let client = weir_kafka::client_config(broker.bootstrap_servers(), &properties);
    let producer = flow::producer(&client)?;
    let ticket = flow::detached_ticket(keys);
    for i in 0..keys {
        let record =
            Outgoing::new("profiles", Some(key(i).into_bytes()), profile(i).into_bytes(), vec![]);
        flow::produce(&producer, &record, ticket.clone())?;
    }
    flow::wait_for(&ticket, Duration::from_secs(300))?;
    drop(producer);

    let probes: Vec<String> = (0..keys.min(100_000)).map(key).collect();
    let mut place = |bounds: &str, part: &str| -> anyhow::Result<Placed> {
        let toml = format!("[tables.profiles]\ntopic = \"profiles\"\n{bounds}\n");
        let table_config = Config::parse(&toml, std::path::Path::new("bench.toml"))?;
        let tables = table_config.declared_tables();
        // What earlier parts freed goes back to the system first, or the table would reuse
        // it and its growth would read smaller than it is; the peak starts from now.
        // SAFETY: glibc's malloc_trim only releases free memory.
        unsafe { libc::malloc_trim(0) };
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_mib("/proc/self/status", "VmRSS:");
        let started = Instant::now();
        let feeds = weir_kafka::table_feed::start(
            &client,
            &table_config,
            &tables,
            crate::host().resolver,
            None,
        )?;
        let rebuild_s = started.elapsed().as_secs_f64();
        let table = tables.get("profiles").expect("declared").clone();
        anyhow::ensure!(table.len() == keys, "the table holds {} of {keys} keys", table.len());
        let rss_mib = status_mib("/proc/self/status", "VmHWM:") - before;
        memory.push(MemoryAfter::now(&format!("a table of {keys} keys {part}")));
        drop(feeds);
        let file_mib = table.on_disk().map_or(0.0, |bytes| bytes as f64 / (1 << 20) as f64);

        let started = Instant::now();
        let rounds = 1_000_000usize;
        let mut found = 0;
        for i in 0..rounds {
            let value =
                table.get(probes[i % probes.len()].as_bytes()).map_err(anyhow::Error::msg)?;
            found += value.is_some() as usize;
        }
        let lookup_native_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        anyhow::ensure!(found == rounds, "native lookups found {found} of {rounds}");
        Ok(Placed {
            rebuild_s,
            rss_mib,
            counted_mib: table.bytes() as f64 / (1 << 20) as f64,
            file_mib,
            lookup_native_us,
            enricher_us: enricher(runtime, config, table.clone(), events)?,
        })
    };
    let in_memory = place("max_memory_mib = 4096\nmax_disk_mib = 0", "in memory")?;
    let quarter = (in_memory.counted_mib / 4.0) as u64;
    let disk_memory_mib = quarter.clamp(1, DISK_MEMORY_MIB);
    let on_disk = place(&format!("max_memory_mib = {disk_memory_mib}"), "on disk")?;
    anyhow::ensure!(on_disk.file_mib > 0.0, "the table past its memory bound is not on disk");
    drop(broker);
    Ok(TableCost {
        keys,
        value_bytes: VALUE_BYTES,
        memory: in_memory,
        disk: on_disk,
        disk_memory_mib,
    })
}

fn user_id(record: &weir_core::record::Record) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&record.value).ok()?;
    value["user_id"].as_str().map(str::to_string)
}

/// µs per record of `login-enricher` over `events`, each user in the table (after a pass
/// to warm up), checking that every record came out enriched.
fn enricher(
    runtime: &Runtime,
    config: &Config,
    table: Arc<weir_core::table::Table>,
    events: &[weir_core::record::Record],
) -> anyhow::Result<f64> {
    let path = crate::shipped_plugin(config, "login-enricher.wasm");
    let plugin = runtime.load(&path)?;
    let config = r#"{"table":"profiles"}"#.to_string();
    let mut stage = Stage::<Transform>::reading(
        "enrich",
        &plugin,
        config,
        Limits::default(),
        Grant::new(vec![table]),
    )?;
    let batch_size = 100;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let mut enriched = 0;
        for batch in events.chunks(batch_size) {
            for result in stage.run(batch) {
                let value = result
                    .ok()
                    .and_then(|r| r.ok())
                    .and_then(|t| t.single_value().map(<[u8]>::to_vec));
                enriched += value.is_some_and(|v| v.windows(7).any(|w| w == b"\"plan\":")) as usize;
            }
        }
        best = best.min(started.elapsed().as_secs_f64() * 1e6 / events.len() as f64);
        anyhow::ensure!(
            enriched == events.iter().filter(|e| user_id(e).is_some()).count(),
            "login-enricher enriched {enriched} of {} records",
            events.len()
        );
    }
    Ok(best)
}
