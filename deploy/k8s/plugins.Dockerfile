# The plugins as their own image, copied into each weir pod by an init container
# (run.yaml, repair.yaml). Build from the repository root after `cargo build --release`:
#   docker build -f deploy/k8s/plugins.Dockerfile -t registry.example.com/weir-plugins:0.1.0 .
# Put your own .wasm files in target/plugins/ (or COPY them here) to ship different plugins.
FROM busybox:1.36
COPY target/plugins/*.wasm /plugins/
