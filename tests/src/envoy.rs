//! Runs a real Envoy with the built `.wasm` filters, on free loopback ports, for one test.

use crate::http::{self, Response};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Envoy binary: `$ENVOY`, else the one `make envoy` installs under `.tools/`.
pub fn envoy_bin() -> PathBuf {
    std::env::var_os("ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/venv/bin/envoy"))
}

/// Upstream ports of the shipped config: 18080 default fake (and embeddings), 18081 "openai",
/// 18082 "gemini", 18083 "anthropic", 18084 "azure", 18085 self-hosted.
pub const SHIPPED_PORTS: &[u16] = &[18080, 18081, 18082, 18083, 18084, 18085];

/// The filter crates (as in the Makefile's `FILTERS`).
pub const FILTERS: &[&str] = &[
    "tollgate-pii",
    "tollgate-guard",
    "tollgate-router",
    "tollgate-usage",
    "tollgate-ratelimit",
];

/// Builds the filters for wasm32-wasip1 once per test binary (a no-op when up to date).
pub fn build_filters() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let build = |pkgs: &[&str]| {
            Command::new(&cargo)
                .current_dir(repo_root())
                .args(["build", "--release", "--target", "wasm32-wasip1"])
                .args(pkgs.iter().flat_map(|p| ["-p", p]))
                .status()
                .is_ok_and(|s| s.success())
        };
        // The combined module is built on its own: built together, cargo would unify features and
        // link the filters' standalone entry points into it.
        assert!(
            build(FILTERS) && build(&["tollgate"]),
            "building the wasm filters failed"
        );
    });
}

/// Runs `envoy --mode validate` on a config file; `Err` carries Envoy's output.
pub fn validate(config: &Path) -> Result<(), String> {
    let out = Command::new(envoy_bin())
        .current_dir(repo_root())
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "-l",
            "error",
            "-c",
        ])
        .arg(config)
        .output()
        .map_err(|e| format!("cannot run envoy ({}): {e}", envoy_bin().display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The shipped `envoy/envoy.yaml`.
pub fn shipped_config() -> String {
    std::fs::read_to_string(repo_root().join("envoy/envoy.yaml")).unwrap_or_default()
}

/// The lines of the wasm filter item `- name: {filter}` and of its inline `value: |` block:
/// (item start, value line, end of the value block).
fn filter_block(lines: &[&str], filter: &str) -> Option<(usize, usize, usize)> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let start = lines
        .iter()
        .position(|l| l.trim() == format!("- name: {filter}"))?;
    let value_line = start
        + lines
            .iter()
            .skip(start)
            .position(|l| l.trim() == "value: |")?;
    let base = indent(lines[value_line]);
    let end = lines
        .iter()
        .enumerate()
        .skip(value_line + 1)
        .find(|(_, l)| !l.trim().is_empty() && indent(l) <= base)
        .map_or(lines.len(), |(i, _)| i);
    Some((start, value_line, end))
}

/// The sections of the pipeline filter `tollgate`, in order, as JSON texts.
pub fn pipeline_sections(yaml: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let Some((_, value_line, end)) = filter_block(&lines, "tollgate") else {
        return Vec::new();
    };
    let text = lines[value_line + 1..end].join("\n");
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
        panic!("the pipeline configuration is not a JSON object");
    };
    map.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

/// Replaces lines `value_line+1..end` (a filter's inline configuration) with `json`.
fn put_value(lines: &[&str], value_line: usize, end: usize, json: &str) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines[value_line]);
    let mut out: Vec<String> = lines[..=value_line].iter().map(|s| s.to_string()).collect();
    for line in json.lines() {
        out.push(format!("{}{}", " ".repeat(base + 2), line.trim_start()));
    }
    out.extend(lines[end..].iter().map(|s| s.to_string()));
    out.join("\n") + "\n"
}

/// Rewrites the pipeline's configuration from `sections` (name, JSON text — invalid JSON is kept
/// as it is, for tests of refused configurations).
fn put_sections(yaml: &str, sections: &[(String, String)]) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let Some((_, value_line, end)) = filter_block(&lines, "tollgate") else {
        panic!("no pipeline filter `tollgate` in config");
    };
    let body: Vec<String> = sections
        .iter()
        .map(|(k, v)| format!("\"{k}\": {}", v.replace('\n', " ")))
        .collect();
    put_value(
        &lines,
        value_line,
        end,
        &format!("{{\n{}\n}}", body.join(",\n")),
    )
}

/// Replaces the configuration of policy `filter` (e.g. `tollgate.usage`): the section `usage` of
/// the pipeline filter, or the whole configuration of a standalone filter of that name.
pub fn with_filter_config(yaml: &str, filter: &str, json: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    if let Some((_, value_line, end)) = filter_block(&lines, filter) {
        return put_value(&lines, value_line, end, json);
    }
    let name = filter.trim_start_matches("tollgate.");
    let mut sections = pipeline_sections(yaml);
    match sections.iter_mut().find(|(k, _)| k == name) {
        Some(s) => s.1 = json.to_owned(),
        None => panic!("policy {filter} not found in config"),
    }
    put_sections(yaml, &sections)
}

/// Removes policy `name` (`tollgate.pii`: the pipeline's section; any other filter: its list item).
pub fn without_filter(yaml: &str, name: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    if filter_block(&lines, name).is_none() && filter_block(&lines, "tollgate").is_some() {
        let section = name.trim_start_matches("tollgate.");
        let sections = pipeline_sections(yaml);
        if sections.iter().any(|(k, _)| k == section) {
            let kept: Vec<(String, String)> =
                sections.into_iter().filter(|(k, _)| k != section).collect();
            return put_sections(yaml, &kept);
        }
    }
    without_list_item(yaml, name)
}

/// Removes every list item `- name: {name}` (with the comment lines right above it).
fn without_list_item(yaml: &str, name: &str) -> String {
    let mut lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    while let Some(start) = lines
        .iter()
        .position(|l| l.trim() == format!("- name: {name}"))
    {
        let base = indent(lines[start]);
        let end = lines
            .iter()
            .enumerate()
            .skip(start + 1)
            .find(|(_, l)| !l.trim().is_empty() && indent(l) <= base)
            .map_or(lines.len(), |(i, _)| i);
        let mut from = start;
        while from > 0 && lines[from - 1].trim_start().starts_with('#') {
            from -= 1;
        }
        lines.drain(from..end);
    }
    lines.join("\n") + "\n"
}

/// The same gateway with the policies as four separate wasm filters (one plugin each, root_ids
/// `tollgate_pii`, ...), as users who want single policies configure them.
pub fn separate_filters(yaml: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let Some((start, _, end)) = filter_block(&lines, "tollgate") else {
        panic!("no pipeline filter `tollgate` in config");
    };
    let mut from = start;
    while from > 0 && lines[from - 1].trim_start().starts_with('#') {
        from -= 1;
    }
    let item: Vec<&str> = lines[start..end].to_vec();
    let mut out: Vec<String> = lines[..from].iter().map(|s| s.to_string()).collect();
    for (name, json) in pipeline_sections(yaml) {
        let one = item
            .join("\n")
            .replace("- name: tollgate\n", &format!("- name: tollgate.{name}\n"))
            .replace("name: tollgate\n", &format!("name: tollgate_{name}\n"))
            .replace(
                "root_id: tollgate\n",
                &format!("root_id: tollgate_{name}\n"),
            );
        let one_lines: Vec<&str> = one.lines().collect();
        let Some((_, v, e)) = filter_block(&one_lines, &format!("tollgate.{name}")) else {
            panic!("malformed pipeline item");
        };
        out.push(put_value(&one_lines, v, e, &json).trim_end().to_owned());
    }
    out.extend(lines[end..].iter().map(|s| s.to_string()));
    out.join("\n") + "\n"
}

/// Client names the test harness can authenticate as (besides the shipped demo clients); each has
/// the secret [`client_secret`] in the clients file every test Envoy loads.
pub const TEST_CLIENTS: &[&str] = &[
    "tester", "app", "alice", "bob", "carol", "dave", "erin", "frank", "probe", "rss", "bench",
];

/// The test secret of a client in [`TEST_CLIENTS`].
pub fn client_secret(client: &str) -> String {
    format!("test-secret-{client}")
}

/// `Bearer <secret>` of a test client, as the OpenAI SDKs send their `api_key`.
pub fn bearer(client: &str) -> String {
    format!("Bearer {}", client_secret(client))
}

/// The shipped envoy/clients.yaml with the [`TEST_CLIENTS`] added.
pub fn test_clients_file() -> String {
    let shipped =
        std::fs::read_to_string(repo_root().join("envoy/clients.yaml")).unwrap_or_default();
    let extra: String = TEST_CLIENTS
        .iter()
        .map(|c| format!("    - {{ key: {}, client: {c} }}\n", client_secret(c)))
        .collect();
    shipped.replacen(
        "    credentials:\n",
        &format!("    credentials:\n{extra}"),
        1,
    )
}

/// Rewrites the shipped endpoints' ports (18080..18085) to test servers' ports.
fn map_ports(text: &str, ports: &[(u16, u16)]) -> String {
    let mut out = text.to_owned();
    for (shipped, test) in ports {
        out = out.replace(
            &format!("port_value: {shipped} "),
            &format!("port_value: {test} "),
        );
        out = out.replace(
            &format!("port_value: {shipped}}}"),
            &format!("port_value: {test}}}"),
        );
    }
    out
}

/// What a test Envoy loads besides its bootstrap.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// The clients file (default: [`test_clients_file`]).
    pub clients: Option<String>,
    /// The provider clusters file (default: envoy/clusters.yaml).
    pub clusters: Option<String>,
    /// Extra environment for the Envoy process.
    pub env: Vec<(String, String)>,
}

/// A running Envoy; killed and cleaned up on drop.
pub struct Envoy {
    child: Child,
    dir: PathBuf,
    /// The HTTP listener.
    pub addr: SocketAddr,
    /// The admin interface.
    pub admin: SocketAddr,
}

/// Envoy worker threads used in tests unless a test asks otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 2;

impl Envoy {
    /// Starts the shipped config with its upstream pointed at `fake_port`.
    pub fn start_shipped(fake_port: u16) -> Envoy {
        Self::start(&shipped_config(), fake_port, DEFAULT_CONCURRENCY)
    }

    /// Starts `yaml` (a config shaped like the shipped one) with free ports and a private
    /// directory for secrets and the access log.
    pub fn start(yaml: &str, fake_port: u16, concurrency: u32) -> Envoy {
        Self::try_start(yaml, fake_port, concurrency)
            .unwrap_or_else(|log| panic!("envoy failed to start:\n{log}"))
    }

    /// Like [`Envoy::start`], but returns Envoy's log when it refuses the config or dies.
    pub fn try_start(yaml: &str, fake_port: u16, concurrency: u32) -> Result<Envoy, String> {
        let ports: Vec<(u16, u16)> = SHIPPED_PORTS.iter().map(|p| (*p, fake_port)).collect();
        Self::try_start_ports(yaml, &ports, concurrency)
    }

    /// Starts with each shipped upstream port (18080 default fake, 18081 "openai", 18082
    /// "gemini") mapped to a test server's port.
    pub fn start_ports(yaml: &str, ports: &[(u16, u16)], concurrency: u32) -> Envoy {
        Self::try_start_ports(yaml, ports, concurrency)
            .unwrap_or_else(|log| panic!("envoy failed to start:\n{log}"))
    }

    /// Like [`Envoy::start_ports`], returning Envoy's log on failure.
    pub fn try_start_ports(
        yaml: &str,
        ports: &[(u16, u16)],
        concurrency: u32,
    ) -> Result<Envoy, String> {
        Self::try_start_with(yaml, ports, concurrency, None)
    }

    /// Like [`Envoy::try_start_ports`], optionally pinned to `cpus` (a `taskset -c` list).
    pub fn try_start_with(
        yaml: &str,
        ports: &[(u16, u16)],
        concurrency: u32,
        cpus: Option<&str>,
    ) -> Result<Envoy, String> {
        Self::try_start_files(yaml, ports, concurrency, cpus, &Files::default())
    }

    /// Like [`Envoy::try_start_with`], with the clients and clusters files given.
    pub fn try_start_files(
        yaml: &str,
        ports: &[(u16, u16)],
        concurrency: u32,
        cpus: Option<&str>,
        files: &Files,
    ) -> Result<Envoy, String> {
        build_filters();
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-envoy-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("secrets")).unwrap_or_else(|e| panic!("{e}"));
        for (name, key) in [
            ("fake_provider", "fake-provider-key"),
            ("openai", "unset"),
            ("gemini", "unset"),
            ("anthropic", "unset"),
        ] {
            let secret = format!(
                "resources:\n- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  name: {name}_key\n  generic_secret:\n    secret: {{ inline_string: \"{key}\" }}\n"
            );
            let _ = std::fs::write(dir.join(format!("secrets/{name}.yaml")), secret);
        }
        let root = repo_root();
        let secrets = format!("{}/secrets/", dir.display());
        let clusters = files.clusters.clone().unwrap_or_else(|| {
            std::fs::read_to_string(root.join("envoy/clusters.yaml")).unwrap_or_default()
        });
        let clusters = map_ports(&clusters, ports).replace(".run/secrets/", &secrets);
        std::fs::write(dir.join("clusters.yaml"), clusters).unwrap_or_else(|e| panic!("{e}"));
        let clients = files.clients.clone().unwrap_or_else(test_clients_file);
        std::fs::write(dir.join("clients.yaml"), clients).unwrap_or_else(|e| panic!("{e}"));
        let cfg = map_ports(
            &yaml
                .replace("port_value: 8081", "port_value: 0")
                .replace("port_value: 9901", "port_value: 0"),
            ports,
        )
        .replace(
            "path: envoy/clusters.yaml",
            &format!("path: {}", dir.join("clusters.yaml").display()),
        )
        .replace(
            "path: envoy/clients.yaml",
            &format!("path: {}", dir.join("clients.yaml").display()),
        );
        let cfg = cfg
            .replace(
                "path: /dev/stdout",
                &format!("path: {}", dir.join("access.log").display()),
            )
            .replace(".run/secrets/", &secrets)
            .replace(
                "filename: target/",
                &format!("filename: {}/target/", root.display()),
            );
        let cfg_path = dir.join("envoy.yaml");
        std::fs::write(&cfg_path, cfg).unwrap_or_else(|e| panic!("{e}"));
        let admin_path = dir.join("admin.txt");
        let log = std::fs::File::create(dir.join("envoy.log")).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = match cpus {
            // taskset execs Envoy, so the child pid stays Envoy's.
            Some(list) => {
                let mut c = Command::new("taskset");
                c.args(["-c", list]).arg(envoy_bin());
                c
            }
            None => Command::new(envoy_bin()),
        };
        let child = cmd
            .current_dir(&root)
            .arg("-c")
            .arg(&cfg_path)
            .args([
                "--concurrency",
                &concurrency.to_string(),
                "--disable-hot-restart",
                "-l",
                "warning",
            ])
            .args([
                "--component-log-level",
                "wasm:info",
                "--file-flush-interval-msec",
                "100",
            ])
            // Provider keys as `make run` passes them; only the upstream router VM reads them.
            .env("OPENAI_API_KEY", "test-openai-key")
            .env("GEMINI_API_KEY", "test-gemini-key")
            .env("ANTHROPIC_API_KEY", "test-anthropic-key")
            .env("AZURE_OPENAI_API_KEY", "test-azure-key")
            .envs(files.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("--admin-address-path")
            .arg(&admin_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start envoy {}: {e}", envoy_bin().display()));
        let unset = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut envoy = Envoy {
            child,
            dir,
            addr: unset,
            admin: unset,
        };
        envoy.wait_ready()?;
        Ok(envoy)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("envoy exited with {status}:\n{}", self.log()));
            }
            if let Ok(text) = std::fs::read_to_string(self.dir.join("admin.txt")) {
                if let Ok(admin) = text.trim().parse() {
                    self.admin = admin;
                    if let Some(addr) = self.listener_addr() {
                        self.addr = addr;
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("envoy did not become ready:\n{}", self.log()))
    }

    fn listener_addr(&self) -> Option<SocketAddr> {
        let r = http::get(self.admin, "/ready").ok()?;
        if r.status != 200 {
            return None;
        }
        let l = http::get(self.admin, "/listeners?format=json").ok()?.json();
        let sa = l
            .get("listener_statuses")?
            .get(0)?
            .get("local_address")?
            .get("socket_address")?;
        let port = sa.get("port_value")?.as_u64()?;
        (port != 0).then(|| SocketAddr::from(([127, 0, 0, 1], port as u16)))
    }

    /// CPU time (user + system) Envoy has used so far, in microseconds (from /proc).
    pub fn cpu_us(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit(')').next().unwrap_or_default();
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        ticks * 10_000 // USER_HZ is 100 on Linux
    }

    /// Resident set size of the Envoy process, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Envoy's own log (warnings and the filters' log lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    /// `POST` a JSON body through the gateway, as the test client `tester` unless `headers` carry
    /// a credential of their own.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
        let auth = bearer("tester");
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        let has_credential = headers
            .iter()
            .any(|(k, _)| matches!(*k, "authorization" | "x-api-key" | "client_secret"));
        if !has_credential {
            h.push(("authorization", &auth));
        }
        http::post_json(self.addr, path, &h, body).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// The clients file this Envoy loads (replace it with a rename to change clients live).
    pub fn clients_path(&self) -> PathBuf {
        self.dir.join("clients.yaml")
    }

    /// The directory of this Envoy's files (config, secrets, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Prometheus text from the admin interface.
    pub fn prometheus(&self) -> String {
        http::get(self.admin, "/stats/prometheus")
            .map(|r| r.text())
            .unwrap_or_default()
    }

    /// Sum of the Prometheus series `name` whose labels include all of `labels`.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sum_series(&self.prometheus(), name, labels)
    }

    /// Waits (up to 10 s) until `metric(name, labels) >= at_least`; returns the last value.
    pub fn wait_metric(&self, name: &str, labels: &[(&str, &str)], at_least: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.metric(name, labels);
            if v >= at_least || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Access-log lines written so far (JSON objects).
    pub fn access_log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (up to 10 s) until the access log has at least `n` lines.
    pub fn wait_access_log(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.access_log();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("TOLLGATE_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sums the samples of `name` whose label set contains `labels`.
pub fn sum_series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_str, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once("} ") {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        let ok = labels
            .iter()
            .all(|(k, v)| label_str.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        if ok {
            sum += value.trim().parse::<f64>().unwrap_or(0.0);
        }
    }
    sum
}

/// A free loopback port (bound and released; for configs that need a fixed port).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Asserts that Envoy refuses to start with `config` for the wasm filter `filter` of the shipped
/// config, and that its log names `field`.
pub fn assert_config_refused(filter: &str, config: &str, field: &str, fake_port: u16) {
    let yaml = with_filter_config(&shipped_config(), filter, config);
    match Envoy::try_start(&yaml, fake_port, 1) {
        Ok(_) => panic!("envoy accepted {config}"),
        Err(log) => assert!(
            log.contains(&format!("field `{field}`")),
            "{field} not named in:\n{log}"
        ),
    }
}

/// The Python of `.tools/venv` (`$TOLLGATE_PYTHON` overrides; `make tools` installs it).
pub fn python() -> String {
    std::env::var("TOLLGATE_PYTHON").unwrap_or_else(|_| {
        repo_root()
            .join(".tools/venv/bin/python")
            .display()
            .to_string()
    })
}

/// Runs the repository's Python script `script` (a path from the repository root) with `args`;
/// panics with its stderr if it fails, and returns what it printed.
pub fn run_python<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> String {
    let py = python();
    let out = Command::new(&py)
        .arg(repo_root().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py} (run `make tools`): {e}"));
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`run_python`] for a script that prints one JSON value.
pub fn run_python_json<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> Value {
    let out = run_python(script, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {out}"))
}
