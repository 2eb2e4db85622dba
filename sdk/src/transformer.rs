//! The `transformer` world: 0..N records per input (filter, rewrite, fan out, route), or
//! an error that dead-letters the input.

wit_bindgen::generate!({
    path: "wit",
    world: "transformer",
    default_bindings_module: "weir_plugin::transformer",
    pub_export_macro: true,
    export_macro_name: "export_transformer_world",
    with: {
        "weir:plugin/types@0.3.0": crate::validator::weir::plugin::types,
        "weir:plugin/host@0.3.0": crate::validator::weir::plugin::host,
        "weir:plugin/tables@0.3.0": crate::validator::weir::plugin::tables,
    },
});

use crate::frame::{self, Record};
use crate::Error;

/// Rewrites records. Implement `transform`: write what the input becomes to `out` —
/// nothing drops it, [`Emit::value`] keeps its key and headers with a new value,
/// [`Emit::record`] writes any record, to any of the stage's outputs.
pub trait Transformer: Sized + 'static {
    type Config: serde::de::DeserializeOwned;

    fn new(config: Self::Config) -> Result<Self, Error>;

    fn transform(&mut self, record: &Record<'_>, out: &mut Emit<'_>) -> Result<(), Error>;

    fn from_config(json: &str) -> Result<Self, Error> {
        Self::new(crate::parse_config(json)?)
    }
}

/// A record to emit, built from borrowed parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out<'a> {
    pub value: &'a [u8],
    pub key: Option<&'a [u8]>,
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// One of the stage's `outputs` (weir.toml `[transform.outputs]`); `None`: its output topic.
    pub output: Option<&'a str>,
}

impl<'a> Out<'a> {
    /// A record with only a value, to the stage's output topic.
    pub fn new(value: &'a [u8]) -> Out<'a> {
        Out { value, key: None, headers: Vec::new(), output: None }
    }

    /// `value` with `input`'s key and headers.
    pub fn like(input: &Record<'a>, value: &'a [u8]) -> Out<'a> {
        Out { value, key: input.key, headers: input.headers.iter().collect(), output: None }
    }

    pub fn key(mut self, key: Option<&'a [u8]>) -> Out<'a> {
        self.key = key;
        self
    }

    /// Adds a header (headers starting with `weir.` are the host's: it drops them).
    pub fn header(mut self, key: &'a str, value: &'a [u8]) -> Out<'a> {
        self.headers.push((key, value));
        self
    }

    /// Sends it to the named output instead of the output topic.
    pub fn to(mut self, output: &'a str) -> Out<'a> {
        self.output = Some(output);
        self
    }
}

/// Where a transform writes the records one input becomes, straight into the answer.
pub struct Emit<'b> {
    buf: &'b mut Vec<u8>,
    input_key: Option<&'b [u8]>,
    input_headers: frame::Headers<'b>,
    count: u32,
}

impl Emit<'_> {
    /// The input with a new value: same key and headers, to the output topic.
    pub fn value(&mut self, value: &[u8]) -> &mut Self {
        frame::put_bytes(self.buf, value);
        frame::put_maybe_bytes(self.buf, self.input_key);
        self.input_headers.write(self.buf);
        frame::put_maybe_text(self.buf, None);
        self.count += 1;
        self
    }

    pub fn record(&mut self, out: Out<'_>) -> &mut Self {
        frame::put_bytes(self.buf, out.value);
        frame::put_maybe_bytes(self.buf, out.key);
        frame::put_headers(self.buf, out.headers.into_iter());
        frame::put_maybe_text(self.buf, out.output);
        self.count += 1;
        self
    }

    /// Records emitted so far for this input.
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// Runs `transform` on one input, appending its answer to `buf`: the emitted records, or
/// (on an error) the reason alone — what was emitted before the error is taken back.
pub fn answer_one<T: Transformer>(plugin: &mut T, record: &Record<'_>, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.push(frame::ACCEPTED);
    buf.extend_from_slice(&[0; 4]);
    let mut emit =
        Emit { buf: &mut *buf, input_key: record.key, input_headers: record.headers, count: 0 };
    match plugin.transform(record, &mut emit) {
        Ok(()) => {
            let count = emit.count.to_le_bytes();
            buf[start + 1..start + 5].copy_from_slice(&count);
        }
        Err(error) => {
            buf.truncate(start);
            buf.push(frame::REFUSED);
            frame::put_bytes(buf, error.reason().as_bytes());
        }
    }
}

/// A batch frame in, the answers frame out: what the exported `transform` does.
pub fn answer<T: Transformer>(plugin: &mut T, batch: &[u8]) -> Vec<u8> {
    let records = frame::records(batch).expect("weir-plugin: the host sends well-formed frames");
    let mut out = Vec::with_capacity(batch.len() + records.len() * 8);
    for record in &records {
        answer_one(plugin, record, &mut out);
    }
    out
}

/// An emitted record, owned: what [`transform`] returns for tests and native use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub value: Vec<u8>,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub output: Option<String>,
}

/// Transforms one record natively (tests, benchmarks): the records it becomes.
pub fn transform<T: Transformer>(
    plugin: &mut T,
    record: &Record<'_>,
) -> Result<Vec<Emitted>, Error> {
    let mut buf = Vec::new();
    answer_one(plugin, record, &mut buf);
    let mut reader = frame::Reader::new(&buf);
    let read =
        |reader: &mut frame::Reader<'_>| -> Result<Result<Vec<Emitted>, Error>, frame::FrameError> {
            if reader.u8()? == frame::REFUSED {
                return Ok(Err(Error::new(reader.text()?)));
            }
            let count = reader.u32()?;
            (0..count)
                .map(|_| {
                    Ok(Emitted {
                        value: reader.bytes()?.to_vec(),
                        key: reader.maybe_bytes()?.map(<[u8]>::to_vec),
                        headers: frame::Headers::read(reader)?
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_vec()))
                            .collect(),
                        output: reader.maybe_text()?.map(str::to_string),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Ok)
        };
    read(&mut reader).expect("weir-plugin writes well-formed answers")
}

/// Exports a [`Transformer`] as the component's `transformer` world.
#[macro_export]
macro_rules! export_transformer {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static PLUGIN: $crate::Slot<$plugin> = const { $crate::Slot::new() };
            }
            struct Export;
            impl $crate::transformer::Guest for Export {
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    PLUGIN.with(|slot| slot.init(|| <$plugin as $crate::Transformer>::from_config(&config)))
                }
                fn transform(batch: ::std::vec::Vec<u8>) -> ::std::vec::Vec<u8> {
                    PLUGIN.with(|slot| slot.with(|plugin| $crate::transformer::answer(plugin, &batch)))
                }
            }
            $crate::transformer::export_transformer_world!(Export with_types_in $crate::transformer);
        };
    };
}
