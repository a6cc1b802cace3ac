// Calls the storage server from a page on another origin, as supabase-js does in a browser, and
// reports what the page could see. Every request carrying Authorization/apikey or another custom
// header makes Chromium send a CORS preflight first; a preflight the server gets wrong shows up here
// as "TypeError: Failed to fetch", and a header the server does not expose reads as null.
//
// Query string: storage (…/storage/v1), bucket, token (the user's JWT), apikey, folder (the
// user's folder, the only place the bucket's policy lets them write).
// The report ({origin, steps: {name: {ok, …} | {ok: false, error}}}) is POSTed to /report.

const params = new URLSearchParams(location.search);
const STORAGE = params.get("storage");
const BUCKET = params.get("bucket");
const TOKEN = params.get("token");
const APIKEY = params.get("apikey");
const FOLDER = params.get("folder");
const MiB = 1024 * 1024;

function log(line) {
  document.getElementById("log").textContent += line + "\n";
}

// The headers supabase-js sends on every storage call.
function auth(extra = {}) {
  return { Authorization: `Bearer ${TOKEN}`, apikey: APIKEY, "x-client-info": "compat-browser-test", ...extra };
}

function objectUrl(key, prefix = "object") {
  return `${STORAGE}/${prefix}/${BUCKET}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

// crypto.getRandomValues fills at most 65536 bytes per call.
function randomBytes(size) {
  const bytes = new Uint8Array(size);
  for (let start = 0; start < size; start += 65536) {
    crypto.getRandomValues(bytes.subarray(start, Math.min(start + 65536, size)));
  }
  return bytes;
}

async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Header values as the page's script sees them: null when the server did not expose the header.
function visible(response, names) {
  return Object.fromEntries(names.map((name) => [name, response.headers.get(name)]));
}

async function bodyOf(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// 1. supabase-js uploads a Blob as multipart/form-data: cacheControl and metadata fields first,
//    then the file under the field name "".
async function multipartUpload() {
  const key = `${FOLDER}/form.bin`;
  const data = randomBytes(MiB + 17);
  const form = new FormData();
  form.append("cacheControl", "120");
  form.append("metadata", JSON.stringify({ from: "browser-form" }));
  form.append("", new Blob([data], { type: "application/x-browser-form" }));
  const response = await fetch(objectUrl(key), { method: "POST", headers: auth({ "x-upsert": "false" }), body: form });
  return { key, status: response.status, body: await bodyOf(response), size: data.length, sha256: await sha256(data) };
}

// 1b. Raw bodies with PUT and x-upsert (supabase-js's update()): the second replaces the first.
//     Content type, cache control and base64 user metadata travel in headers.
async function rawUpsert() {
  const key = `${FOLDER}/raw.bin`;
  const statuses = [];
  let data, body;
  for (const [size, from] of [[1000, "first"], [512 * 1024 + 3, "browser-raw"]]) {
    data = randomBytes(size);
    const response = await fetch(objectUrl(key), {
      method: "PUT",
      headers: auth({
        "x-upsert": "true",
        "content-type": "application/x-browser-raw",
        "cache-control": "max-age=60",
        "x-metadata": btoa(JSON.stringify({ from })),
      }),
      body: data,
    });
    statuses.push(response.status);
    body = await bodyOf(response);
  }
  return { key, statuses, body, size: data.length, sha256: await sha256(data) };
}

// 2. A signed URL, then a plain download through it (no custom headers: no preflight, but ETag
//    and Content-Disposition are readable only if exposed).
async function signedDownload(key) {
  const sign = await fetch(objectUrl(key, "object/sign"), {
    method: "POST",
    headers: auth({ "content-type": "application/json" }),
    body: JSON.stringify({ expiresIn: 120 }),
  });
  const signed = await bodyOf(sign);
  if (sign.status !== 200) return { signStatus: sign.status, signBody: signed };
  const response = await fetch(`${STORAGE}${signed.signedURL}&download=copy.bin`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  return {
    signStatus: sign.status,
    signedURL: signed.signedURL,
    status: response.status,
    headers: visible(response, ["content-type", "content-length", "etag", "content-disposition", "cache-control", "expires"]),
    size: bytes.length,
    sha256: await sha256(bytes),
  };
}

// 2b. An authenticated ranged read: Range is a preflighted header, Content-Range an exposed one.
async function rangedDownload(key) {
  const response = await fetch(objectUrl(key, "object/authenticated"), { headers: auth({ range: "bytes=100-199" }) });
  const bytes = new Uint8Array(await response.arrayBuffer());
  return {
    status: response.status,
    headers: visible(response, ["content-range", "content-length", "etag", "cache-control"]),
    size: bytes.length,
    sha256: await sha256(bytes),
  };
}

// 3. TUS by hand: create, PATCH in 5 MiB + 1 chunks, HEAD between chunks, then read it back.
async function tusUpload() {
  const key = `${FOLDER}/resumable.bin`;
  const data = randomBytes(12 * MiB + 3);
  const chunk = 5 * MiB + 1;
  const tus = { "Tus-Resumable": "1.0.0" };
  const metadata = Object.entries({
    bucketName: BUCKET,
    objectName: key,
    contentType: "application/x-browser-tus",
    cacheControl: "3600",
  }).map(([name, value]) => `${name} ${btoa(value)}`).join(",");
  const create = await fetch(`${STORAGE}/upload/resumable`, {
    method: "POST",
    headers: auth({ ...tus, "Upload-Length": String(data.length), "Upload-Metadata": metadata, "x-upsert": "true" }),
  });
  const result = {
    key, size: data.length, sha256: await sha256(data),
    create: { status: create.status, headers: visible(create, ["location", "tus-resumable", "upload-expires"]) },
    patches: [], heads: [],
  };
  const url = result.create.headers.location;
  if (create.status !== 201 || !url) return result;
  let offset = 0;
  while (offset < data.length) {
    const patch = await fetch(url, {
      method: "PATCH",
      headers: auth({ ...tus, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" }),
      body: data.subarray(offset, offset + chunk),
    });
    const seen = visible(patch, ["upload-offset", "tus-resumable", "upload-expires"]);
    result.patches.push({ status: patch.status, headers: seen, body: await patch.text() });
    if (patch.status !== 204 || seen["upload-offset"] === null) return result;
    offset = Number(seen["upload-offset"]);
    if (offset < data.length) {
      const head = await fetch(url, { method: "HEAD", headers: auth(tus) });
      result.heads.push({ status: head.status, headers: visible(head, ["upload-offset", "upload-length", "tus-resumable", "cache-control"]) });
    }
  }
  const download = await fetch(objectUrl(key, "object/authenticated"), { headers: auth() });
  const bytes = new Uint8Array(await download.arrayBuffer());
  result.download = {
    status: download.status, headers: visible(download, ["content-type", "content-length", "etag"]),
    size: bytes.length, sha256: await sha256(bytes),
  };
  return result;
}

// 4. A large Blob generated in the page, uploaded as a raw body, then downloaded as a stream
//    read chunk by chunk from response.body.
async function largeBlobStreamedBack() {
  const key = `${FOLDER}/large.bin`;
  const data = randomBytes(8 * MiB);
  const blob = new Blob([data], { type: "application/x-browser-large" });
  const upload = await fetch(objectUrl(key), { method: "POST", headers: auth({ "content-type": blob.type, "x-upsert": "true" }), body: blob });
  const result = { key, size: data.length, sha256: await sha256(data), upload: { status: upload.status, body: await bodyOf(upload) } };
  const download = await fetch(objectUrl(key, "object/authenticated"), { headers: auth() });
  const reader = download.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
  }
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const piece of chunks) {
    bytes.set(piece, at);
    at += piece.length;
  }
  result.download = {
    status: download.status, headers: visible(download, ["content-type", "content-length", "etag"]),
    reads: chunks.length, size: received, sha256: await sha256(bytes),
  };
  return result;
}

// 4b. A streaming request body (ReadableStream, duplex: "half"). Chromium sends these only over
//     HTTP/2 or QUIC; over HTTP/1.1 the fetch is rejected. The outcome is reported either way.
async function streamingRequestBody() {
  const key = `${FOLDER}/streamed.bin`;
  const data = randomBytes(MiB);
  const stream = new ReadableStream({
    start(controller) {
      for (let start = 0; start < data.length; start += 256 * 1024) controller.enqueue(data.slice(start, start + 256 * 1024));
      controller.close();
    },
  });
  try {
    const response = await fetch(objectUrl(key), {
      method: "POST", headers: auth({ "content-type": "application/octet-stream" }), body: stream, duplex: "half",
    });
    return { key, outcome: "sent", status: response.status, body: await bodyOf(response), size: data.length, sha256: await sha256(data) };
  } catch (error) {
    return { key, outcome: "rejected", error: `${error.name}: ${error.message}` };
  }
}

async function run() {
  const report = { origin: location.origin, userAgent: navigator.userAgent, steps: {} };
  async function step(name, action) {
    log(`${name}…`);
    try {
      report.steps[name] = { ok: true, ...(await action()) };
    } catch (error) {
      report.steps[name] = { ok: false, error: `${error.name}: ${error.message}` };
    }
    log(`${name}: ${JSON.stringify(report.steps[name]).slice(0, 300)}`);
  }
  await step("multipart", multipartUpload);
  await step("rawUpsert", rawUpsert);
  await step("signedDownload", () => signedDownload(`${FOLDER}/raw.bin`));
  await step("rangedDownload", () => rangedDownload(`${FOLDER}/raw.bin`));
  await step("tus", tusUpload);
  await step("largeBlob", largeBlobStreamedBack);
  await step("streamingBody", streamingRequestBody);
  await fetch("/report", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(report) });
}

window.addEventListener("error", (event) => {
  fetch("/report", { method: "POST", body: JSON.stringify({ pageError: String(event.message) }) });
});

run();
