// Serve fauxqs's S3 emulation (an in-memory S3 written independently of
// s3rver) on 127.0.0.1 for the tests; started by tests/s3/fauxqs.sh and
// tests/e2e/test_s3_lifecycle.py.
//
//   node fauxqs-serve.mjs MODULES_DIR DATA_DIR BUCKET...
//
// MODULES_DIR holds node_modules/fauxqs. Prints "fauxqs listening on
// 127.0.0.1:PORT" once every bucket exists.
//
// Two things differ from fauxqs's own launcher, and why:
// - it listens on 127.0.0.1 only (fauxqs's startFauxqs binds 0.0.0.0) on
//   a port the kernel picks;
// - the request body limit is 5 GiB, S3's own limit for one PUT: fauxqs
//   caps every request at 11 MiB, and rclone uploads files below its
//   200 MiB upload cutoff in one PUT.
// And one thing is added: every object the store holds is mirrored into
// DATA_DIR/<bucket>/<key>.object (with <key>.meta.json for its metadata
// and content type), so the tests can scan the server's whole storage for
// plaintext as they do s3rver's data directory. The mirror only watches
// the store; the server answers from memory as fauxqs does.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, data, ...buckets] = process.argv.slice(2);
if (!modules || !data) {
	console.error("usage: fauxqs-serve.mjs MODULES_DIR DATA_DIR BUCKET...");
	process.exit(2);
}
const dist = join(modules, "node_modules", "fauxqs", "dist");
const { buildApp } = await import(pathToFileURL(join(dist, "app.js")));
const { S3Store } = await import(pathToFileURL(join(dist, "s3", "s3Store.js")));

// One file name per key segment: encoded, so no key can name a path
// outside DATA_DIR ("..", "/" runs, NUL).
function mirrorPath(bucket, key) {
	const seg = (s) => (s === "" || s === "." || s === ".." ? "%" + Buffer.from(s).toString("hex") + "_" : encodeURIComponent(s));
	return join(data, seg(bucket), ...key.split("/").map(seg));
}

function mirrorPut(bucket, obj) {
	const p = mirrorPath(bucket, obj.key);
	mkdirSync(dirname(p), { recursive: true });
	writeFileSync(p + ".object", obj.body);
	writeFileSync(p + ".meta.json", JSON.stringify({ contentType: obj.contentType, metadata: obj.metadata }));
}

function mirrorDelete(bucket, key) {
	const p = mirrorPath(bucket, key);
	rmSync(p + ".object", { force: true });
	rmSync(p + ".meta.json", { force: true });
}

const store = new S3Store();
const put = store.putObject.bind(store);
store.putObject = (bucket, key, ...rest) => {
	const obj = put(bucket, key, ...rest);
	mirrorPut(bucket, obj);
	return obj;
};
const complete = store.completeMultipartUpload.bind(store);
store.completeMultipartUpload = (uploadId, parts) => {
	const bucket = store.multipartUploads.get(uploadId)?.bucket;
	const obj = complete(uploadId, parts);
	mirrorPut(bucket, obj);
	return obj;
};
const del = store.deleteObject.bind(store);
store.deleteObject = (bucket, key) => {
	del(bucket, key);
	mirrorDelete(bucket, key);
};

mkdirSync(data, { recursive: true });
const app = buildApp({ logger: false, stores: { s3Store: store } });
app.removeContentTypeParser("*");
app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: 5 * 1024 ** 3 }, (_req, body, done) => done(null, body));
for (const b of buckets) store.createBucket(b);
const addr = await app.listen({ port: 0, host: "127.0.0.1" });
console.log(`fauxqs listening on 127.0.0.1:${new URL(addr).port}`);
