//! Plays the StatefulSet controller and the kubelet for the lifecycle
//! tests: every pod of the StatefulSet the operator applied to the
//! in-memory API becomes a real `tinyredis node` process on loopback.
//!
//! - A pod runs the container's command, args and env as built by the
//!   operator. Addresses are translated on the way: `0.0.0.0:<port>` binds
//!   to `127.0.0.1:<the pod's port>`, and the advertised headless-Service
//!   names `<pod>.<svc>.<ns>.svc:<port>` to `127.0.0.1:<that pod's port>`.
//!   Each pod keeps its ports for the whole test, as a pod keeps its DNS
//!   name. [`LoopbackResolver`] applies the same mapping for the operator.
//! - Volumes are directories: the claim template's PVC `data-<pod>` is
//!   `<root>/pvc/data-<pod>`, a ConfigMap volume is written out from the
//!   stored ConfigMap, an emptyDir is a fresh directory.
//! - Readiness is the readiness probe's path (`/readyz`) on the pod's http
//!   port, copied into the pod's Ready condition.
//! - The controller creates missing pods (and their PVCs, with a fresh
//!   directory) below `spec.replicas`, deletes pods above it (PVCs stay),
//!   recreates pods the operator deleted at the current revision
//!   (`OnDelete`), and restarts processes that died (the kubelet).

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tinyredis_operator::admin::Resolver;

use super::fake_api::{path, FakeApi};

/// Loopback ports of one pod, by container port.
#[derive(Debug, Clone, Default)]
pub struct PodPorts(BTreeMap<u16, u16>);

/// Stable loopback ports per pod name, allocated on first use.
#[derive(Clone, Default)]
pub struct PortMap(Arc<Mutex<HashMap<String, PodPorts>>>);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl PortMap {
    /// The loopback port standing for `container_port` of `pod`.
    pub fn port(&self, pod: &str, container_port: u16) -> u16 {
        let mut map = self.0.lock().unwrap();
        let ports = map.entry(pod.to_string()).or_default();
        *ports.0.entry(container_port).or_insert_with(free_port)
    }

    /// `host:port` as seen from loopback: pod DNS names (`<pod>.….svc`)
    /// become the pod's port on 127.0.0.1; anything else stays.
    pub fn map_addr(&self, addr: &str) -> String {
        let Some((host, port)) = addr.rsplit_once(':') else {
            return addr.to_string();
        };
        let (Some(pod), Ok(port)) = (
            host.strip_suffix(".svc")
                .and_then(|h| h.split('.').next())
                .filter(|_| host.ends_with(".svc")),
            port.parse::<u16>(),
        ) else {
            return addr.to_string();
        };
        format!("127.0.0.1:{}", self.port(pod, port))
    }
}

/// Points the operator's admin client, and the addresses it puts into join
/// requests, at the pods' loopback ports.
pub struct LoopbackResolver(pub PortMap);

impl Resolver for LoopbackResolver {
    fn base_url(&self, http_addr: &str) -> String {
        format!("http://{}", self.0.map_addr(http_addr))
    }

    fn advertised(&self, addr: &str) -> String {
        self.0.map_addr(addr)
    }
}

struct Process {
    child: Child,
    started: Instant,
    restarts: u32,
    /// The kubelet does not restart the container before this.
    restart_after: Option<Instant>,
}

/// A running "pod": its process and what it was started from.
struct PodState {
    process: Option<Process>,
    /// What to run again when the kubelet restarts the container.
    spec: Launch,
}

#[derive(Clone)]
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    http_port: u16,
    readiness_path: String,
}

pub struct Kubelet {
    api: FakeApi,
    ns: String,
    statefulset: String,
    bin: PathBuf,
    root: PathBuf,
    pub ports: PortMap,
    pods: Mutex<BTreeMap<i32, PodState>>,
    stop: AtomicBool,
}

impl Kubelet {
    pub fn new(api: FakeApi, ns: &str, statefulset: &str, bin: PathBuf, root: PathBuf) -> Self {
        Kubelet {
            api,
            ns: ns.into(),
            statefulset: statefulset.into(),
            bin,
            root,
            ports: PortMap::default(),
            pods: Mutex::default(),
            stop: AtomicBool::new(false),
        }
    }

    /// Runs [`Kubelet::sync`] every 100 ms on a thread until [`Kubelet::shutdown`].
    pub fn run(self: &Arc<Self>) -> std::thread::JoinHandle<()> {
        let kubelet = self.clone();
        std::thread::spawn(move || {
            while !kubelet.stop.load(Ordering::Relaxed) {
                kubelet.sync();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    }

    /// Stops the sync loop and every process.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let mut pods = self.pods.lock().unwrap();
        for (_, pod) in pods.iter_mut() {
            if let Some(mut process) = pod.process.take() {
                let _ = process.child.kill();
                let _ = process.child.wait();
            }
        }
    }

    pub fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.statefulset)
    }

    pub fn pvc_dir(&self, ordinal: i32) -> PathBuf {
        self.root
            .join("pvc")
            .join(format!("data-{}", self.pod_name(ordinal)))
    }

    /// The RESP address of a pod on loopback.
    pub fn redis_addr(&self, ordinal: i32) -> String {
        format!(
            "127.0.0.1:{}",
            self.ports.port(&self.pod_name(ordinal), 6379)
        )
    }

    pub fn http_addr(&self, ordinal: i32) -> String {
        format!(
            "127.0.0.1:{}",
            self.ports.port(&self.pod_name(ordinal), 17000)
        )
    }

    /// SIGKILLs a pod's process; the kubelet restarts it once `down_for`
    /// has passed (as a crash-loop backoff would delay it).
    pub fn kill(&self, ordinal: i32, down_for: Duration) {
        let mut pods = self.pods.lock().unwrap();
        if let Some(process) = pods.get_mut(&ordinal).and_then(|p| p.process.as_mut()) {
            let _ = process.child.kill();
            let _ = process.child.wait();
            process.restart_after = Some(Instant::now() + down_for);
        }
    }

    /// Simulates a lost volume: the process is killed, the PVC's directory
    /// emptied, and the kubelet restarts the container on the empty volume
    /// (the PVC object stays, as it would be rebound to a new volume).
    pub fn wipe_volume(&self, ordinal: i32) {
        let mut pods = self.pods.lock().unwrap();
        if let Some(process) = pods.get_mut(&ordinal).and_then(|p| p.process.as_mut()) {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
        let dir = self.pvc_dir(ordinal);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
    }

    /// How many times the kubelet restarted a pod's container.
    pub fn restarts(&self, ordinal: i32) -> u32 {
        let pods = self.pods.lock().unwrap();
        pods.get(&ordinal)
            .and_then(|p| p.process.as_ref())
            .map_or(0, |p| p.restarts)
    }

    fn sts_path(&self) -> String {
        path("apps/v1", "statefulsets", &self.ns, &self.statefulset)
    }

    fn pod_path(&self, ordinal: i32) -> String {
        path("v1", "pods", &self.ns, &self.pod_name(ordinal))
    }

    fn pvc_path(&self, claim: &str, ordinal: i32) -> String {
        path(
            "v1",
            "persistentvolumeclaims",
            &self.ns,
            &format!("{claim}-{}", self.pod_name(ordinal)),
        )
    }

    /// One pass of the StatefulSet controller and the kubelet.
    pub fn sync(&self) {
        let Some(sts) = self.api.get(&self.sts_path()) else {
            return;
        };
        let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(1) as i32;
        let template = &sts["spec"]["template"];
        let revision = revision_of(template);
        let mut pods = self.pods.lock().unwrap();

        // Pods above spec.replicas go (their PVCs stay).
        let extra: Vec<i32> = pods.keys().copied().filter(|o| *o >= replicas).collect();
        for ordinal in extra {
            if let Some(mut pod) = pods.remove(&ordinal) {
                stop_gracefully(&mut pod.process);
            }
            self.api.remove(&self.pod_path(ordinal));
        }

        for ordinal in 0..replicas {
            let exists = self.api.get(&self.pod_path(ordinal)).is_some();
            if exists {
                if let Some(pod) = pods.get_mut(&ordinal) {
                    restart_if_dead(pod);
                    continue;
                }
            }
            // The pod was deleted (or never existed): its old container
            // stops, then a new pod is created at the current revision.
            if let Some(mut pod) = pods.remove(&ordinal) {
                stop_gracefully(&mut pod.process);
            }
            let launch = self.create_pod(&sts, ordinal, &revision);
            let process = start(&launch);
            pods.insert(
                ordinal,
                PodState {
                    process: Some(process),
                    spec: launch,
                },
            );
        }

        // Readiness, from the probe's endpoint.
        for (ordinal, pod) in pods.iter() {
            let ready =
                pod.process.is_some() && http_get_ok(pod.spec.http_port, &pod.spec.readiness_path);
            let status = if ready { "True" } else { "False" };
            self.api.update(&self.pod_path(*ordinal), |pod| {
                pod["status"] = json!({
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": status}],
                });
            });
        }
        let ready = pods.len();
        drop(pods);
        self.api.update(&self.sts_path(), |sts| {
            sts["status"] = json!({
                "replicas": ready,
                "updateRevision": revision,
                "observedGeneration": sts["metadata"]["generation"],
            });
        });
        // PVCs the operator deleted lose their data for good.
        for entry in std::fs::read_dir(self.root.join("pvc"))
            .into_iter()
            .flatten()
        {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            let object = path("v1", "persistentvolumeclaims", &self.ns, &name);
            if self.api.get(&object).is_none() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Creates the pod object (and missing PVCs) and works out how to run
    /// its container.
    fn create_pod(&self, sts: &Value, ordinal: i32, revision: &str) -> Launch {
        let name = self.pod_name(ordinal);
        let template = &sts["spec"]["template"];
        let mut labels = template["metadata"]["labels"].clone();
        labels["controller-revision-hash"] = json!(revision);
        labels["statefulset.kubernetes.io/pod-name"] = json!(name);
        self.api.insert(
            &self.pod_path(ordinal),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": self.ns, "labels": labels,
                             "annotations": template["metadata"]["annotations"]},
                "spec": template["spec"],
                "status": {"phase": "Pending",
                           "conditions": [{"type": "Ready", "status": "False"}]},
            }),
        );
        let pod_dir = self.root.join("pods").join(&name);
        let _ = std::fs::remove_dir_all(&pod_dir);
        std::fs::create_dir_all(&pod_dir).unwrap();

        // Volumes → directories.
        let mut volume_dirs: HashMap<String, PathBuf> = HashMap::new();
        for claim in sts["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let claim_name = claim["metadata"]["name"].as_str().unwrap();
            let pvc = self.pvc_path(claim_name, ordinal);
            let dir = self.root.join("pvc").join(format!("{claim_name}-{name}"));
            let created = self.api.insert_if_absent(
                &pvc,
                json!({
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": format!("{claim_name}-{name}"), "namespace": self.ns,
                                 "labels": claim["metadata"]["labels"]},
                    "spec": claim["spec"],
                    "status": {"phase": "Bound"},
                }),
            );
            if created {
                let _ = std::fs::remove_dir_all(&dir);
            }
            std::fs::create_dir_all(&dir).unwrap();
            volume_dirs.insert(claim_name.to_string(), dir);
        }
        let spec = &template["spec"];
        for volume in spec["volumes"].as_array().into_iter().flatten() {
            let volume_name = volume["name"].as_str().unwrap();
            let dir = pod_dir.join("volumes").join(volume_name);
            std::fs::create_dir_all(&dir).unwrap();
            if let Some(map) = volume["configMap"]["name"].as_str() {
                let stored = self
                    .api
                    .get(&path("v1", "configmaps", &self.ns, map))
                    .unwrap_or_else(|| panic!("ConfigMap {map} of pod {name} does not exist"));
                for (file, text) in stored["data"].as_object().into_iter().flatten() {
                    std::fs::write(dir.join(file), text.as_str().unwrap()).unwrap();
                }
            }
            volume_dirs.insert(volume_name.to_string(), dir);
        }

        let container = &spec["containers"][0];
        let mounts: Vec<(String, PathBuf)> = container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let volume = m["name"].as_str().unwrap();
                let dir = volume_dirs
                    .get(volume)
                    .unwrap_or_else(|| panic!("volume {volume} is not defined"))
                    .clone();
                (m["mountPath"].as_str().unwrap().to_string(), dir)
            })
            .collect();
        let container_ports: Vec<u16> = container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["containerPort"].as_u64())
            .map(|p| p as u16)
            .collect();
        let named_port = |port: &Value| -> u16 {
            match port {
                Value::Number(n) => n.as_u64().unwrap() as u16,
                Value::String(s) => container["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == *s)
                    .and_then(|p| p["containerPort"].as_u64())
                    .unwrap() as u16,
                _ => panic!("bad port {port}"),
            }
        };

        let env: Vec<(String, String)> = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    self.env_value(e, &name),
                )
            })
            .collect();
        let expand = |arg: &str| -> String {
            env.iter().fold(arg.to_string(), |arg, (key, value)| {
                arg.replace(&format!("$({key})"), value)
            })
        };
        let translate = |arg: String| -> String {
            if arg == "0.0.0.0" {
                return "127.0.0.1".into();
            }
            if let Some(port) = arg.strip_prefix("0.0.0.0:") {
                let port: u16 = port.parse().unwrap();
                return format!("127.0.0.1:{}", self.ports.port(&name, port));
            }
            if let Ok(port) = arg.parse::<u16>() {
                if container_ports.contains(&port) {
                    return self.ports.port(&name, port).to_string();
                }
            }
            for (mount, dir) in &mounts {
                if arg == *mount {
                    return dir.to_string_lossy().into_owned();
                }
                if let Some(rest) = arg.strip_prefix(&format!("{mount}/")) {
                    return dir.join(rest).to_string_lossy().into_owned();
                }
            }
            self.ports.map_addr(&arg)
        };
        let command: Vec<String> = container["command"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(container["args"].as_array().into_iter().flatten())
            .map(|a| translate(expand(a.as_str().unwrap())))
            .collect();
        assert_eq!(command[0], "tinyredis", "unexpected container command");
        let probe = &container["readinessProbe"]["httpGet"];
        Launch {
            program: self.bin.clone(),
            args: command[1..].to_vec(),
            env,
            log: pod_dir.join("node.log"),
            http_port: self.ports.port(&name, named_port(&probe["port"])),
            readiness_path: probe["path"].as_str().unwrap_or("/readyz").to_string(),
        }
    }

    fn env_value(&self, env: &Value, pod: &str) -> String {
        if let Some(value) = env["value"].as_str() {
            return value.to_string();
        }
        let source = &env["valueFrom"];
        if source["fieldRef"]["fieldPath"] == "metadata.name" {
            return pod.to_string();
        }
        if let Some(secret) = source["secretKeyRef"]["name"].as_str() {
            let key = source["secretKeyRef"]["key"].as_str().unwrap();
            let stored = self
                .api
                .get(&path("v1", "secrets", &self.ns, secret))
                .unwrap_or_else(|| panic!("Secret {secret} does not exist"));
            if let Some(text) = stored["stringData"][key].as_str() {
                return text.to_string();
            }
            return base64_decode(stored["data"][key].as_str().expect("secret key"));
        }
        panic!("unsupported env source {env}");
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A stable digest of the pod template, standing for the StatefulSet's
/// controller revision.
fn revision_of(template: &Value) -> String {
    let text = template.to_string();
    let digest = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:010x}", digest & 0xff_ffff_ffff)
}

fn start(launch: &Launch) -> Process {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log)
        .unwrap();
    let child = Command::new(&launch.program)
        .args(&launch.args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", launch.program.display()));
    Process {
        child,
        started: Instant::now(),
        restarts: 0,
        restart_after: None,
    }
}

/// The kubelet restarts a container that exited (with a small backoff).
fn restart_if_dead(pod: &mut PodState) {
    let Some(process) = pod.process.as_mut() else {
        return;
    };
    if matches!(process.child.try_wait(), Ok(None)) {
        return;
    }
    if process.started.elapsed() < Duration::from_millis(200)
        || process.restart_after.is_some_and(|t| Instant::now() < t)
    {
        return;
    }
    let restarts = process.restarts + 1;
    let mut fresh = start(&pod.spec);
    fresh.restarts = restarts;
    pod.process = Some(fresh);
}

/// SIGTERM, then SIGKILL after a grace period, as the kubelet does.
fn stop_gracefully(process: &mut Option<Process>) {
    let Some(mut process) = process.take() else {
        return;
    };
    let pid = process.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(process.child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = process.child.kill();
    let _ = process.child.wait();
}

/// An HTTP probe: GET on loopback, success on a 2xx status.
fn http_get_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && head[9] == b'2'
}

fn base64_decode(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = ALPHABET.iter().position(|c| *c == byte).expect("base64") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Where the data dir of a pod lives, for assertions.
pub fn has_raft_state(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}
