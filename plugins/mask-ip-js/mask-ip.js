// mask-ip-js: a weir transformer written in JavaScript, built with componentize-js.
// Zeroes the host part of an IP address (IPv4 to /24), like the Rust `mask-ip` plugin,
// so the two can be compared record for record.

let field = "ip";
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function init(config) {
  const settings = config.trim() ? JSON.parse(config) : {};
  if (settings.field !== undefined && typeof settings.field !== "string") {
    throw "`field` must be a string";
  }
  field = settings.field ?? "ip";
}

function mask(value) {
  let doc;
  try {
    doc = JSON.parse(decoder.decode(value));
  } catch (e) {
    return { tag: "err", val: `value is not valid JSON: ${e.message}` };
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return { tag: "err", val: "value is not a JSON object" };
  }
  if (!(field in doc)) {
    return { tag: "err", val: `field \`${field}\` is missing` };
  }
  const ip = doc[field];
  if (typeof ip !== "string") {
    return { tag: "err", val: `field \`${field}\` is not a string` };
  }
  const octets = ip.split(".");
  const valid = octets.length === 4 && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
  if (!valid) {
    return { tag: "err", val: `field \`${field}\` is not an IPv4 address: ${JSON.stringify(ip)}` };
  }
  octets[3] = "0";
  doc[field] = octets.map(Number).join(".");
  return { tag: "ok", val: encoder.encode(JSON.stringify(doc)) };
}

export function transform(batch) {
  return batch.map((message) => mask(message.value));
}
