//! Each node in its own network namespace, all joined by veth pairs to one bridge whose
//! address in the root namespace is where the harness, its clients and the proxy live.
//! A partition is a set of nftables rules in each node's namespace dropping packets from
//! the peers it must not hear; traffic from the root namespace (clients) always passes.
//!
//! Names carry the harness's pid so that parallel runs never collide and leftovers of a
//! killed run can be told apart from a live one and removed.

use anyhow::{bail, Context};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const PREFIX: &str = "tfz";

pub struct Netns {
    tag: String,
    subnet: String,
    size: usize,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    run("ip", args, None)
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<()> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {program}"))?;
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

impl Netns {
    /// Creates `size` namespaces on a fresh bridge, or says why it cannot.
    pub fn create(size: usize) -> anyhow::Result<Netns> {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        remove_stale();
        let run = RUNS.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let net = Netns {
            tag: format!("{PREFIX}{pid}{}", (b'a' + (run % 26) as u8) as char),
            subnet: format!("10.{}.{}", 100 + run % 100, pid % 250),
            size,
        };
        net.build()
            .with_context(|| format!("setting up namespaces {}-*", net.tag))?;
        Ok(net)
    }

    fn build(&self) -> anyhow::Result<()> {
        which("nft")?;
        let bridge = self.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}.1/24", self.subnet),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..self.size {
            let (ns, veth) = (self.namespace(i), format!("{}-{i}", self.tag));
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &bridge, "up"])?;
            let addr = format!("{}/24", self.node_ip(i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            self.nft(
                i,
                "add table inet faults\n\
                 add chain inet faults input { type filter hook input priority 0; policy accept; }\n",
            )?;
        }
        Ok(())
    }

    fn bridge(&self) -> String {
        format!("{}-br", self.tag)
    }

    pub fn namespace(&self, i: usize) -> String {
        format!("{}-n{i}", self.tag)
    }

    pub fn node_ip(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    fn nft(&self, i: usize, script: &str) -> anyhow::Result<()> {
        run(
            "ip",
            &["netns", "exec", &self.namespace(i), "nft", "-f", "-"],
            Some(script),
        )
    }

    /// Makes node `i` drop every packet from the nodes in `from` (replacing earlier cuts).
    pub fn cut(&self, i: usize, from: &[usize]) -> anyhow::Result<()> {
        let mut script = "flush chain inet faults input\n".to_string();
        if !from.is_empty() {
            let peers: Vec<String> = from.iter().map(|&p| self.node_ip(p)).collect();
            script += &format!(
                "add rule inet faults input ip saddr {{ {} }} counter drop\n",
                peers.join(", ")
            );
        }
        self.nft(i, &script)
    }

    pub fn heal(&self) -> anyhow::Result<()> {
        (0..self.size).try_for_each(|i| self.cut(i, &[]))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        remove(&self.tag);
    }
}

fn which(program: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("{program} is not installed (apt-get install nftables)");
    }
    Ok(())
}

/// Deletes the namespaces, veths and bridge of run `tag`. Nodes a crashed run left
/// running in its namespaces are killed first: they would keep the namespace alive.
fn remove(tag: &str) {
    let ours = |name: &str| name.starts_with(&format!("{tag}-"));
    for ns in output("ip", &["netns", "list"]).lines() {
        let ns = ns.split_whitespace().next().unwrap_or_default();
        if ours(ns) {
            for pid in output("ip", &["netns", "pids", ns]).split_whitespace() {
                let _ = run("kill", &["-9", pid], None);
            }
            let _ = ip(&["netns", "del", ns]);
        }
    }
    for line in output("ip", &["-o", "link", "show"]).lines() {
        let name = line.split(':').nth(1).unwrap_or_default().trim();
        let name = name.split('@').next().unwrap_or_default();
        if ours(name) {
            let _ = ip(&["link", "del", name]);
        }
    }
}

/// Removes what runs whose process is gone left behind.
fn remove_stale() {
    let names = output("ip", &["netns", "list"]) + &output("ip", &["-o", "link", "show"]);
    let tags: std::collections::BTreeSet<String> = names
        .split(|c: char| c.is_whitespace() || c == ':' || c == '@')
        .filter_map(|w| w.strip_prefix(PREFIX))
        .filter_map(|rest| rest.split('-').next())
        .map(|t| format!("{PREFIX}{t}"))
        .collect();
    for tag in tags {
        let pid: String = tag[PREFIX.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            remove(&tag);
        }
    }
}
