//! `weir run` as users run it, on the config's own brokers (tansu, Kafka): one process,
//! then two in one consumer group, each its own process so its memory is its own.
//!
//! Each run gets fresh topics and a fresh group named `weir-bench-<pid>-<members>-...`,
//! from a copy of the config written beside it (its relative paths stay right) and
//! removed afterwards. The members join first; then the events are produced while they
//! consume, and the clock runs from the first record produced to the last one consumed
//! (a small run can be consumed between two looks at the members' counters).

use super::chain::per_s;
use crate::generate::Generator;
use rdkafka::ClientConfig;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weir_core::config::Config;
use weir_kafka::flow::{self, Outgoing};
use weir_kafka::topics;

/// One group of `weir run` processes through `events` records.
#[derive(Debug, Serialize, serde::Deserialize, Default, Clone)]
pub struct GroupRun {
    pub members: usize,
    pub events: usize,
    /// Records consumed per second by the whole group, from the first produced to the
    /// last consumed.
    pub per_s: f64,
    /// The largest peak resident set (VmHWM) of its members.
    pub peak_rss_mib: f64,
}

/// One `weir run` catching up a backlog already in its input, written one record per
/// batch (as any producer at a low rate writes) and in big batches (issue #39).
#[derive(Debug, Serialize, serde::Deserialize, Default, Clone)]
pub struct CatchUp {
    pub events: usize,
    /// Records per second, from the last look that saw none consumed to the first that
    /// saw them all (looks 20 ms apart).
    pub one_record_batches_per_s: f64,
    pub big_batches_per_s: f64,
}

/// Events in each catch-up backlog at most: one-record batches are slow to write.
const CATCH_UP_EVENTS: usize = 50_000;

/// The catch-up of a backlog of one-record batches, then of big batches.
pub fn catch_up(
    config_path: &Path,
    config: &Config,
    client: &ClientConfig,
    events: usize,
) -> anyhow::Result<CatchUp> {
    let events = events.min(CATCH_UP_EVENTS);
    let rate = |batches: &str, producer: &ClientConfig| -> anyhow::Result<f64> {
        let name = format!("weir-bench-{}-catch-up-{batches}", std::process::id());
        let copy = ConfigCopy::write(config_path, &name)?;
        let mut config = config.clone();
        rename(&mut config, &name);
        topics::create(&config, client)?;
        load(&config, producer, events)?;
        let mut member = Member::start(&copy.path, &config.kafka.brokers)?;
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut none_yet = Instant::now();
        loop {
            let consumed = member.consumed().unwrap_or(0);
            let now = Instant::now();
            if consumed == 0 {
                none_yet = now;
            }
            if consumed >= events as u64 {
                member.stop()?;
                // From the last look that saw no record to the one that saw them all: the
                // 20 ms between looks is the resolution, and never zero (a small backlog
                // can be read whole between two looks: from the first look that saw
                // records, that read as infinitely fast).
                return Ok(per_s(events, now - none_yet));
            }
            anyhow::ensure!(
                now < deadline,
                "`weir run` caught up {consumed} of {events} records ({batches} batches) in 300 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut one_per_batch = client.clone();
    one_per_batch.set("batch.num.messages", "1");
    Ok(CatchUp {
        events,
        one_record_batches_per_s: rate("small", &one_per_batch)?,
        big_batches_per_s: rate("big", client)?,
    })
}

/// Faulty events in the load, as the generator's default makes them.
const INVALID_RATIO: f64 = 0.05;

/// One member, then two: `events` records each time.
pub fn measure(
    config_path: &Path,
    config: &Config,
    client: &ClientConfig,
    events: usize,
) -> anyhow::Result<Vec<GroupRun>> {
    [1, 2]
        .into_iter()
        .map(|members| group_run(config_path, config, client, events, members))
        .collect()
}

fn group_run(
    config_path: &Path,
    config: &Config,
    client: &ClientConfig,
    events: usize,
    members: usize,
) -> anyhow::Result<GroupRun> {
    let name = format!("weir-bench-{}-{members}", std::process::id());
    let copy = ConfigCopy::write(config_path, &name)?;
    let mut config = config.clone();
    rename(&mut config, &name);
    topics::create(&config, client)?;
    let mut group = Vec::new();
    for _ in 0..members {
        // One at a time: each joins (and the group settles) before the next starts.
        let member = Member::start(&copy.path, &config.kafka.brokers)?;
        member.wait_ready(Duration::from_secs(90))?;
        group.push(member);
    }
    let (started, done) = std::thread::scope(|scope| -> anyhow::Result<(Instant, Instant)> {
        let started = Instant::now();
        let loading = scope.spawn(|| load(&config, client, events));
        let deadline = started + Duration::from_secs(300);
        loop {
            let consumed: u64 =
                group.iter_mut().map(Member::consumed).sum::<anyhow::Result<u64>>()?;
            let now = Instant::now();
            if consumed >= events as u64 {
                loading.join().expect("loading thread")?;
                return Ok((started, now));
            }
            anyhow::ensure!(
                now < deadline,
                "{members} `weir run` consumed {consumed} of {events} records in 300 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })?;
    let peak_rss_mib = group.iter().map(Member::peak_rss_mib).fold(0.0, f64::max);
    for member in group {
        member.stop()?;
    }
    Ok(GroupRun { members, events, per_s: per_s(events, done - started), peak_rss_mib })
}

/// The physical limit beside `weir run`: a plain librdkafka consume → produce loop (no
/// plugins, no weir), one consumer and one producer, through `events` records on the same
/// broker with the same client settings, timed as a group run is (first produced to last
/// consumed and produced). Records per second.
pub fn plain_passthrough(
    config: &Config,
    client: &ClientConfig,
    events: usize,
) -> anyhow::Result<f64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::Message;
    use std::sync::atomic::{AtomicBool, Ordering};

    let name = format!("weir-bench-{}-plain", std::process::id());
    let mut config = config.clone();
    rename(&mut config, &name);
    topics::create(&config, client)?;
    let mut consumer_config = client.clone();
    consumer_config
        .set("group.id", &config.kafka.group_id)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true");
    let consumer: BaseConsumer = consumer_config.create()?;
    consumer.subscribe(&[config.kafka.input_topic.as_str()])?;
    let producer: BaseProducer = client.create()?;
    // In its group before the clock starts, as each `weir run` member is (`wait_ready`).
    let joining = Instant::now();
    while consumer.assignment()?.count() == 0 {
        anyhow::ensure!(
            joining.elapsed() < Duration::from_secs(90),
            "a plain consumer was not assigned a partition within 90 s"
        );
        if let Some(record) = consumer.poll(Duration::from_millis(100)) {
            record?;
        }
    }
    let loaded = AtomicBool::new(false);
    std::thread::scope(|scope| -> anyhow::Result<f64> {
        let started = Instant::now();
        let loading = scope.spawn(|| {
            let result = load(&config, client, events);
            loaded.store(true, Ordering::Relaxed);
            result
        });
        let deadline = started + Duration::from_secs(300);
        let mut passed = 0;
        while passed < events {
            anyhow::ensure!(
                Instant::now() < deadline,
                "a plain consume → produce passed {passed} of {events} records in 300 s"
            );
            let Some(record) = consumer.poll(Duration::from_millis(100)) else { continue };
            let record = record?;
            let mut out = BaseRecord::to(&config.kafka.output_topic)
                .payload(record.payload().unwrap_or_default());
            if let Some(key) = record.key() {
                out = out.key(key);
            }
            while let Err((e, back)) = producer.send(out) {
                match e {
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                        producer.poll(Duration::from_millis(10));
                        out = back;
                    }
                    e => return Err(e.into()),
                }
            }
            producer.poll(Duration::ZERO);
            passed += 1;
        }
        producer.flush(Duration::from_secs(60))?;
        let done = Instant::now();
        loading.join().expect("loading thread")?;
        Ok(per_s(events, done - started))
    })
}

/// Fresh topics and group for one run.
fn rename(config: &mut Config, name: &str) {
    let k = &mut config.kafka;
    k.group_id = name.to_string();
    k.input_topic = format!("{name}-input");
    k.output_topic = format!("{name}-output");
    k.dead_letter_topic = format!("{name}-dead-letter");
    k.parked_topic = format!("{name}-parked");
    k.analytics_topic = None;
}

/// `events` generated login events, produced as fast as the broker takes them.
fn load(config: &Config, client: &ClientConfig, events: usize) -> anyhow::Result<()> {
    let producer = flow::producer(client)?;
    let ticket = flow::detached_ticket(events);
    let mut generator = Generator::new(Some(3), INVALID_RATIO, 1000.0);
    for _ in 0..events {
        let event = generator.next_event();
        let record = Outgoing::new(
            &config.kafka.input_topic,
            Some(event.key.into_bytes()),
            event.value,
            vec![],
        );
        flow::produce(&producer, &record, ticket.clone())?;
    }
    flow::wait_for(&ticket, Duration::from_secs(300))
}

/// The user's config with one run's group and topics, beside the original so that its
/// relative paths resolve the same way; removed on drop.
struct ConfigCopy {
    path: PathBuf,
}

impl ConfigCopy {
    fn write(original: &Path, name: &str) -> anyhow::Result<ConfigCopy> {
        let text = std::fs::read_to_string(original)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", original.display()))?;
        let mut table: toml::Table = toml::from_str(&text)?;
        let kafka = table.entry("kafka").or_insert_with(|| toml::Table::new().into());
        let kafka = kafka
            .as_table_mut()
            .ok_or_else(|| anyhow::anyhow!("[kafka] in {} is not a table", original.display()))?;
        let mut renamed = Config::parse(&text, original)?;
        rename(&mut renamed, name);
        let k = &renamed.kafka;
        for (key, value) in [
            ("group_id", &k.group_id),
            ("input_topic", &k.input_topic),
            ("output_topic", &k.output_topic),
            ("dead_letter_topic", &k.dead_letter_topic),
            ("parked_topic", &k.parked_topic),
        ] {
            kafka.insert(key.into(), value.clone().into());
        }
        kafka.remove("analytics_topic");
        let path = original.with_file_name(format!(".{name}.toml"));
        std::fs::write(&path, toml::to_string(&table)?)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        Ok(ConfigCopy { path })
    }
}

impl Drop for ConfigCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A `weir run` child process serving its metrics on a local port.
struct Member {
    child: Child,
    addr: String,
    log: tempfile::NamedTempFile,
}

impl Drop for Member {
    /// A run that failed midway leaves no process behind (after `stop`, a no-op).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Member {
    fn start(config: &Path, brokers: &str) -> anyhow::Result<Member> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let log = tempfile::NamedTempFile::new()?;
        let child = Command::new(std::env::current_exe()?)
            .args(["run", "--config"])
            .arg(config)
            .args(["--brokers", brokers, "--metrics", &addr])
            .env("WEIR_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen()?)
            .spawn()?;
        Ok(Member { child, addr, log })
    }

    fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let url = format!("http://{}/readyz", self.addr);
        while ureq::get(&url).call().is_err() {
            anyhow::ensure!(
                started.elapsed() < timeout,
                "`weir run` was not ready within {timeout:?}: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Records consumed so far, from its `/metrics`.
    fn consumed(&mut self) -> anyhow::Result<u64> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("`weir run` ended ({status}): {}", self.log_text());
        }
        let text = ureq::get(&format!("http://{}/metrics", self.addr)).call()?.into_string()?;
        Ok(text
            .lines()
            .filter(|line| line.starts_with("weir_records_consumed_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    fn peak_rss_mib(&self) -> f64 {
        super::peak_memory_mib(&format!("/proc/{}/status", self.child.id()))
    }

    /// SIGTERM, as an orchestrator stops it; it drains and commits.
    fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "`weir run` stopped with {status}: {}", self.log_text());
        Ok(())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default().trim().to_string()
    }
}
