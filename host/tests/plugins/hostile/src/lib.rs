//! A transformer that misbehaves on cue, for testing the host's isolation.
//! A value containing one of these words triggers the behaviour:
//! `PANIC` panics, `LOOP` spins forever, `ALLOC` allocates without bound,
//! `HUGE` returns a 64 MiB value, `SHORT` returns too few results,
//! `ESCAPE` tries the filesystem, environment, clock and network and reports what it got,
//! `SLEEP` sleeps 30 s (in WASI's clock, where no CPU budget can interrupt a host wait),
//! `WAIT` waits for 30 s to pass on the monotonic clock, sleeping 10 ms at a time,
//! `CHATTY` writes 10,000 lines of 1 KiB to the host's log,
//! `POLLABLES` keeps 100,000 clock subscriptions (host resources) alive at once,
//! `RANDOM` asks WASI for 64 MiB of random bytes in one call,
//! `FORGE` logs a line holding a newline, a forged log line and a terminal escape,
//! `ALIAS` anywhere in a batch makes every result of that batch point at one 40 MiB
//! buffer (results that cost the host a copy each, and the guest's memory once).
//! Anything else passes through unchanged.

#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ path: "../../../../wit/0.1.0", world: "transformer" });

struct Hostile;

fn contains(value: &[u8], word: &str) -> bool {
    value.windows(word.len()).any(|w| w == word.as_bytes())
}

impl Guest for Hostile {
    fn init(config: String) -> Result<(), String> {
        if config.contains("refuse") {
            return Err("told to refuse this config".into());
        }
        Ok(())
    }

    fn transform(batch: Vec<Message>) -> Vec<Result<Vec<u8>, String>> {
        if batch.iter().any(|m| contains(&m.value, "ALIAS")) {
            return aliased(batch.len(), 40 << 20);
        }
        let mut out = Vec::new();
        for message in &batch {
            let v = &message.value;
            if contains(v, "PANIC") {
                panic!("hostile plugin panicked on purpose");
            }
            if contains(v, "LOOP") {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            if contains(v, "ALLOC") {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            if contains(v, "HUGE") {
                out.push(Ok(vec![b'x'; 64 << 20]));
                continue;
            }
            if contains(v, "SHORT") {
                return out;
            }
            if contains(v, "SLEEP") {
                std::thread::sleep(std::time::Duration::from_secs(30));
                out.push(Ok(b"slept".to_vec()));
                continue;
            }
            if contains(v, "WAIT") {
                let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                out.push(Ok(b"waited".to_vec()));
                continue;
            }
            if contains(v, "FORGE") {
                weir::plugin::host::log(
                    weir::plugin::host::Level::Warn,
                    "innocent\nERROR forged by a plugin\x1b[2J",
                );
            }
            if contains(v, "CHATTY") {
                let line = "x".repeat(1024);
                for _ in 0..10_000 {
                    weir::plugin::host::log(weir::plugin::host::Level::Warn, &line);
                }
            }
            if contains(v, "POLLABLES") {
                let kept: Vec<_> = (0..100_000)
                    .map(|_| wasip2::clocks::monotonic_clock::subscribe_duration(1))
                    .collect();
                out.push(Ok(format!("kept {}", kept.len()).into_bytes()));
                continue;
            }
            if contains(v, "RANDOM") {
                let bytes = wasip2::random::random::get_random_bytes(64 << 20);
                out.push(Ok(format!("got {}", bytes.len()).into_bytes()));
                continue;
            }
            if contains(v, "ESCAPE") {
                out.push(Ok(escape().into_bytes()));
                continue;
            }
            out.push(Ok(v.clone()));
        }
        out
    }
}

/// `count` results sharing one buffer of `len` bytes. Only a hostile plugin does this: the
/// bindings free each result after the call, so the buffer would be freed `count` times.
fn aliased(count: usize, len: usize) -> Vec<Result<Vec<u8>, String>> {
    let buffer = std::mem::ManuallyDrop::new(vec![b'a'; len]);
    let ptr = buffer.as_ptr() as *mut u8;
    (0..count).map(|_| Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })).collect()
}

/// What a plugin can reach of the outside world, as JSON.
fn escape() -> String {
    let file = std::fs::read("/etc/passwd")
        .map(|b| b.len().to_string())
        .unwrap_or_else(|e| format!("denied: {e}"));
    let dir = std::fs::read_dir("/")
        .map(|d| d.count().to_string())
        .unwrap_or_else(|e| format!("denied: {e}"));
    let write = std::fs::write("/tmp/weir-escape", b"x")
        .map(|_| "written".to_string())
        .unwrap_or_else(|e| format!("denied: {e}"));
    let env = std::env::vars().count();
    let args = std::env::args().count();
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let net = std::net::TcpStream::connect("127.0.0.1:9092")
        .map(|_| "connected".to_string())
        .unwrap_or_else(|e| format!("denied: {e}"));
    format!(
        r#"{{"file":{file:?},"dir":{dir:?},"write":{write:?},"env":{env},"args":{args},"clock_secs":{clock},"net":{net:?}}}"#
    )
}

export!(Hostile);
