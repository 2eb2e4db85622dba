//! A contract-0.2 transformer that writes its answer frames itself (no SDK export), to
//! test what the host does with every kind of answer. Per record value:
//! `MALFORMED` anywhere in a batch: the whole answer is one unknown tag byte;
//! `SHORT`: no answer for that record (the frame ends early);
//! `LIAR`: the answer claims to be 256 MiB long (a list length past the guest's memory);
//! `MANY`: 1,000,000 empty records (a small answer that would cost the host far more);
//! `FANOUT:n`: n copies; `SPLIT:a,b,…`: one record per part, key kept; `DROP`: nothing; `FAIL`: refused with a reason;
//! `TO:name`: to output `name`; `KEY:k`: key `k` and header `x-set: 1`;
//! `FORGE`: headers `weir.error.kind: forged` and `x-kept: yes`; anything else: itself.

#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ path: "../../../../wit/0.2.0", world: "transformer" });

use weir_plugin::frame::{self, Record};

struct Hostile;

fn emit(
    out: &mut Vec<u8>,
    value: &[u8],
    key: Option<&[u8]>,
    headers: &[(&str, &[u8])],
    output: Option<&str>,
) {
    frame::put_bytes(out, value);
    frame::put_maybe_bytes(out, key);
    frame::put_headers(out, headers.iter().copied());
    frame::put_maybe_text(out, output);
}

fn answer(out: &mut Vec<u8>, record: &Record<'_>) {
    let text = std::str::from_utf8(record.value).unwrap_or("");
    let records = |out: &mut Vec<u8>, n: u32| {
        out.push(frame::ACCEPTED);
        frame::put_u32(out, n);
    };
    if text == "SHORT" {
        return;
    }
    if text == "FAIL" {
        out.push(frame::REFUSED);
        frame::put_bytes(out, b"told to fail");
    } else if text == "DROP" {
        records(out, 0);
    } else if text == "MANY" {
        records(out, 1_000_000);
        for _ in 0..1_000_000 {
            emit(out, b"", None, &[], None);
        }
    } else if let Some(n) = text.strip_prefix("FANOUT:") {
        let n: u32 = n.parse().unwrap_or(1);
        records(out, n);
        for i in 0..n {
            emit(out, format!("copy {i}").as_bytes(), record.key, &[], None);
        }
    } else if let Some(parts) = text.strip_prefix("SPLIT:") {
        records(out, parts.split(',').count() as u32);
        for part in parts.split(',') {
            emit(out, part.as_bytes(), record.key, &[], None);
        }
    } else if let Some(name) = text.strip_prefix("TO:") {
        records(out, 1);
        emit(out, record.value, record.key, &[], Some(name));
    } else if let Some(key) = text.strip_prefix("KEY:") {
        records(out, 1);
        emit(out, record.value, Some(key.as_bytes()), &[("x-set", b"1")], None);
    } else if text == "FORGE" {
        records(out, 1);
        emit(
            out,
            record.value,
            record.key,
            &[("weir.error.kind", b"forged"), ("x-kept", b"yes")],
            None,
        );
    } else {
        records(out, 1);
        emit(out, record.value, record.key, &[], None);
    }
}

impl Guest for Hostile {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn transform(batch: Vec<u8>) -> Vec<u8> {
        let records = frame::records(&batch).expect("the host frames batches well");
        if records.iter().any(|r| r.value == b"MALFORMED") {
            return vec![0xee];
        }
        if records.iter().any(|r| r.value == b"LIAR") {
            let mut small = vec![0u8; 16];
            // SAFETY: none; the point is a list whose length lies. The host must refuse it
            // before copying, and this instance is thrown away after.
            let liar = unsafe { Vec::from_raw_parts(small.as_mut_ptr(), 256 << 20, 256 << 20) };
            std::mem::forget(small);
            return liar;
        }
        let mut out = Vec::new();
        for record in &records {
            answer(&mut out, record);
        }
        out
    }
}

export!(Hostile);
