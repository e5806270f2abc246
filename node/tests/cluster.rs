//! Raft replication with real `tinyredis` processes on loopback: bootstrap and join,
//! failover, durability of acknowledged writes, restarts, snapshots, membership changes.

mod common;
use common::cluster::*;
use common::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn bulk(r: &Resp) -> Option<String> {
    r.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

#[test]
fn followers_redirect_to_the_leader_and_serve_stale_reads_on_request() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader();
    let follower = (leader + 1) % 3;
    assert_eq!(
        cluster.conn(leader).cmd(&["SET", "k", "v"]),
        Resp::Line(b'+', b"OK".to_vec())
    );
    let mut f = cluster.conn(follower);
    let Resp::Line(b'-', err) = f.cmd(&["SET", "k", "w"]) else {
        panic!("follower accepted a write")
    };
    let err = String::from_utf8(err).unwrap();
    assert!(err.starts_with("READONLY"), "{err}");
    assert!(
        err.ends_with(&format!("leader=127.0.0.1:{}", cluster.nodes[leader].port)),
        "{err}"
    );
    assert!(
        f.cmd(&["GET", "k"]).is_error(),
        "a follower must not serve a linearizable read"
    );
    f.cmd(&["READONLY"]);
    eventually("replica catches up", Duration::from_secs(5), || {
        (bulk(&f.cmd(&["GET", "k"])).as_deref() == Some("v")).then_some(())
    });
}

#[test]
fn acknowledged_writes_survive_leader_kill_under_load() {
    let mut cluster = Cluster::start(3, &[]);
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, stop, ports) = (acked.clone(), stop.clone(), ports.clone());
            std::thread::spawn(move || write_until_stopped(w, &ports, &acked, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let old_leader = cluster.wait_leader();
    cluster.kill(old_leader);
    let new_leader = cluster.wait_leader();
    assert_ne!(new_leader, old_leader);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    writers.into_iter().for_each(|w| w.join().unwrap());
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few writes acknowledged: {}",
        acked.len()
    );
    let mut conn = cluster.conn(new_leader);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|k| conn.cmd(&["EXISTS", k]).as_int() != Some(1))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    cluster.restart(old_leader);
    cluster.wait_converged();
}

/// Writes unique keys to whichever node accepts them, recording each acknowledged one.
fn write_until_stopped(
    writer: usize,
    ports: &[u16],
    acked: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut n = 0;
    let mut target = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", ports[target])) else {
            target = (target + 1) % ports.len();
            continue;
        };
        drop(stream);
        let mut conn = Conn::connect(ports[target]);
        conn.set_timeout(Duration::from_secs(15));
        while !stop.load(Ordering::Relaxed) {
            let key = format!("w{writer}-{n}");
            conn.send(&[b"SET", key.as_bytes(), b"x"]);
            match conn.try_read() {
                Some(Resp::Line(b'+', _)) => {
                    acked.lock().unwrap().push(key);
                    n += 1;
                }
                Some(_) | None => {
                    n += 1;
                    target = (target + 1) % ports.len();
                    std::thread::sleep(Duration::from_millis(20));
                    break;
                }
            }
        }
    }
}

#[test]
fn whole_cluster_restart_keeps_every_write() {
    let mut cluster = Cluster::start(3, &["--raft-snap-threshold", "50"]);
    let leader = cluster.wait_leader();
    let mut conn = cluster.conn(leader);
    for i in 0..120 {
        conn.cmd(&["RPUSH", "list", &i.to_string()]);
        conn.cmd(&["SET", &format!("k{i}"), &i.to_string(), "EX", "1000"]);
    }
    let before = cluster.wait_converged();
    for i in 0..3 {
        cluster.kill(i);
    }
    for i in 0..3 {
        cluster.restart(i);
    }
    let leader = cluster.wait_leader();
    let mut conn = cluster.conn(leader);
    assert_eq!(conn.cmd(&["LLEN", "list"]).as_int(), Some(120));
    assert_eq!(bulk(&conn.cmd(&["GET", "k77"])).as_deref(), Some("77"));
    let ttl = conn.cmd(&["TTL", "k5"]).as_int().unwrap();
    assert!((900..=1000).contains(&ttl), "ttl {ttl}");
    let missing: Vec<usize> = (0..120)
        .filter(|i| conn.cmd(&["EXISTS", &format!("k{i}")]).as_int() != Some(1))
        .collect();
    assert!(missing.is_empty(), "lost {missing:?}");
    assert_eq!(cluster.wait_converged(), before);
}

#[test]
fn a_new_node_catches_up_through_a_snapshot() {
    let mut cluster = Cluster::start(3, &["--raft-snap-threshold", "20"]);
    let leader = cluster.wait_leader();
    let mut conn = cluster.conn(leader);
    for i in 0..300 {
        conn.cmd(&["SADD", "set", &i.to_string()]);
    }
    let status = eventually("a snapshot", Duration::from_secs(10), || {
        let s = cluster.status(leader)?;
        s["snapshot_index"].as_u64().filter(|&i| i > 100).map(|_| s)
    });
    assert!(status["snapshot_index"].as_u64().unwrap() > 100);
    cluster.add_node(&["--raft-snap-threshold", "20"]);
    cluster.wait_voters(4);
    cluster.wait_converged();
    let mut newcomer = cluster.conn(3);
    newcomer.cmd(&["READONLY"]);
    assert_eq!(newcomer.cmd(&["SCARD", "set"]).as_int(), Some(300));
    // The cluster's name was logged long before the snapshot: it travels inside it.
    let named = cluster.status(leader).unwrap()["cluster_id"].clone();
    assert!(named.as_str().is_some_and(|id| !id.is_empty()), "{named}");
    assert_eq!(cluster.status(3).unwrap()["cluster_id"], named);
}

/// Starts `tinyredis node` with no bootstrap or join flags: it waits for `POST /init`.
fn start_uninitialised_node(dir: &std::path::Path, port: u16, http: u16) -> std::process::Child {
    let child = std::process::Command::new(tinyredis_bin())
        .args(["node", "--node-id", "solo", "--port", &port.to_string()])
        .args(["--raft-dir", dir.to_str().unwrap(), "--loglevel", "warn"])
        .args(["--raft-bind", &format!("127.0.0.1:{}", free_port())])
        .args(["--raft-http", &format!("127.0.0.1:{http}")])
        .spawn()
        .expect("start tinyredis node");
    wait_for_port(port);
    child
}

#[test]
fn init_names_the_cluster_and_refuses_bad_bodies() {
    let dir = std::env::temp_dir().join(format!("tinyredis-init-{}", free_port()));
    let (port, http) = (free_port(), free_port());
    let mut node = start_uninitialised_node(&dir, port, http);
    let addr = format!("127.0.0.1:{http}");
    let init = |body: &str| {
        let response = ureq::post(&format!("http://{addr}/init"))
            .set("content-type", "application/json")
            .send_string(body);
        match response {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    for bad in [
        "{",
        r#"{"cluster_id": 7}"#,
        r#"{"cluster_id": "has space"}"#,
        r#"{"cluster_id": ""}"#,
        r#"{"clusterid": "x"}"#,
    ] {
        let (code, body) = init(bad);
        assert_eq!(code, 400, "{bad} -> {body}");
        assert_eq!(http_get(&addr, "/status").unwrap()["role"], "uninitialized");
    }
    let (code, body) = init(r#"{"cluster_id": "prod-eu.1"}"#);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        http_get(&addr, "/status").unwrap()["cluster_id"],
        "prod-eu.1"
    );
    assert_eq!(init(r#"{"cluster_id": "other"}"#).0, 409);
    node.kill().unwrap();
    node.wait().unwrap();
    let mut node = start_uninitialised_node(&dir, port, http);
    let restored = eventually("the name after a restart", Duration::from_secs(10), || {
        let id = http_get(&addr, "/status")?["cluster_id"].clone();
        id.is_string().then_some(id)
    });
    assert_eq!(restored, "prod-eu.1");
    node.kill().unwrap();
    node.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn members_can_be_removed_and_added_back() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader();
    let victim = (leader + 1) % 3;
    let name = cluster.nodes[victim].name.clone();
    let (code, body) = http_send(
        "DELETE",
        &cluster.nodes[leader].http(),
        &format!("/members/{name}"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let members = cluster.status(leader).unwrap()["members"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(members, 2);
    cluster.conn(leader).cmd(&["SET", "after-removal", "1"]);
    cluster.kill(victim);
    let _ = std::fs::remove_dir_all(&cluster.nodes[victim].dir);
    let join = serde_json::json!({
        "id": name,
        "raft_addr": format!("127.0.0.1:{}", cluster.nodes[victim].raft_port),
        "resp_addr": format!("127.0.0.1:{}", cluster.nodes[victim].port),
        "http_addr": cluster.nodes[victim].http(),
    });
    cluster.restart(victim);
    let (code, body) = http_send("POST", &cluster.nodes[leader].http(), "/join", Some(join));
    assert_eq!(code, 200, "{body}");
    cluster.wait_voters(3);
    cluster.wait_converged();
}

#[test]
fn transactions_ttls_and_random_picks_are_identical_on_every_replica() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader();
    let mut conn = cluster.conn(leader);
    for i in 0..50 {
        conn.cmd(&["SADD", "s", &format!("m{i}")]);
        conn.cmd(&["HSET", "h", &format!("f{i}"), "v"]);
    }
    conn.cmd(&["MULTI"]);
    conn.cmd(&["INCR", "counter"]);
    conn.cmd(&["SPOP", "s", "3"]);
    conn.cmd(&["SET", "ttl", "x", "PX", "123456"]);
    conn.cmd(&["HRANDFIELD", "h", "2"]);
    let Resp::Agg(b'*', Some(replies)) = conn.cmd(&["EXEC"]) else {
        panic!("EXEC failed")
    };
    assert_eq!(replies.len(), 4);
    conn.cmd(&["SPOP", "s"]);
    conn.cmd(&["EXPIRE", "h", "500"]);
    cluster.wait_converged();
}

#[test]
fn a_paused_old_leader_never_serves_a_stale_read() {
    let cluster = Cluster::start(3, &[]);
    let old = cluster.wait_leader();
    let mut stale_conn = cluster.conn(old);
    assert_eq!(
        stale_conn.cmd(&["SET", "k", "old"]),
        Resp::Line(b'+', b"OK".to_vec())
    );
    cluster.pause(old);
    let new = eventually("a new leader", Duration::from_secs(20), || {
        (0..3)
            .filter(|&i| i != old)
            .find(|&i| cluster.status(i).is_some_and(|s| s["role"] == "leader"))
    });
    assert_eq!(
        cluster.conn(new).cmd(&["SET", "k", "new"]),
        Resp::Line(b'+', b"OK".to_vec())
    );
    // The request is sent while the old leader is frozen, so it is served the moment it
    // wakes, before it hears of the new term.
    stale_conn.send(&[b"GET", b"k"]);
    cluster.resume(old);
    let reply = stale_conn.read();
    assert!(
        reply.is_error() || bulk(&reply).as_deref() == Some("new"),
        "stale read: {}",
        reply.show()
    );
}

#[test]
fn admin_api_refuses_changes_without_the_cluster_secret() {
    let cluster = Cluster::start(1, &["--cluster-secret", "s3cret"]);
    let http = cluster.nodes[0].http();
    let (code, _) = http_send(
        "POST",
        &http,
        "/join",
        Some(serde_json::json!({"id": "x", "raft_addr": "127.0.0.1:1"})),
    );
    assert_eq!(code, 401);
    let (code, _) = http_send("DELETE", &http, "/members/n1", None);
    assert_eq!(code, 401);
    assert!(http_get(&http, "/status").is_some(), "reads need no secret");
    let ids: HashSet<String> = cluster.status(0).unwrap()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, HashSet::from(["n1".to_string()]));
}

#[test]
fn expired_keys_are_deleted_on_every_replica_through_the_log() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader();
    let mut conn = cluster.conn(leader);
    for i in 0..200 {
        conn.cmd(&["SET", &format!("t{i}"), "v", "PX", "150"]);
    }
    conn.cmd(&["SET", "keep", "v"]);
    for i in 0..3 {
        let mut replica = cluster.conn(i);
        replica.cmd(&["READONLY"]);
        eventually("expired keys reclaimed", Duration::from_secs(10), || {
            (replica.cmd(&["DBSIZE"]).as_int() == Some(1)).then_some(())
        });
    }
    cluster.wait_converged();
}

#[test]
fn a_node_that_lost_its_data_stays_out_until_removed_and_added_again() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader();
    cluster.conn(leader).cmd(&["SET", "k", "v"]);
    let victim = (leader + 1) % 3;
    cluster.kill(victim);
    std::fs::remove_dir_all(&cluster.nodes[victim].dir).unwrap();
    cluster.restart(victim);
    std::thread::sleep(Duration::from_millis(1500));
    let status = cluster.status(victim).unwrap();
    assert_eq!(
        status["role"], "uninitialized",
        "a wiped node took part in the cluster: {status}"
    );
    let name = cluster.nodes[victim].name.clone();
    let http = cluster.nodes[leader].http();
    let (code, body) = http_send("DELETE", &http, &format!("/members/{name}"), None);
    assert_eq!(code, 200, "{body}");
    let join = serde_json::json!({
        "id": name,
        "raft_addr": format!("127.0.0.1:{}", cluster.nodes[victim].raft_port),
        "resp_addr": format!("127.0.0.1:{}", cluster.nodes[victim].port),
        "http_addr": cluster.nodes[victim].http(),
    });
    let (code, body) = http_send("POST", &http, "/join", Some(join));
    assert_eq!(code, 200, "{body}");
    cluster.wait_voters(3);
    cluster.wait_converged();
}

#[test]
fn leadership_moves_to_the_named_voter_under_write_load() {
    transfer_under_write_load(3);
}

/// With five voters the target needs followers' votes too, not only the old leader's:
/// they refuse while the old leader's lease runs.
#[test]
fn leadership_moves_among_five_voters_under_write_load() {
    transfer_under_write_load(5);
}

fn transfer_under_write_load(voters: usize) {
    let cluster = Cluster::start(voters, &[]);
    let leader = cluster.wait_leader();
    let target = (leader + 1) % voters;
    let port = cluster.nodes[leader].port;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut conn = Conn::connect(port);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                conn.cmd(&["SET", &format!("load{i}"), "x"]);
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let body = serde_json::json!({ "to": cluster.nodes[target].name });
    let (code, text) = http_send(
        "POST",
        &cluster.nodes[leader].http(),
        "/leadership/transfer",
        Some(body),
    );
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert_eq!(code, 200, "{text}");
    assert_eq!(cluster.wait_leader(), target);
}

#[test]
fn followers_forward_writes_and_reads_to_the_leader_when_asked() {
    let cluster = Cluster::start(3, &["--forward-to-leader"]);
    let leader = cluster.wait_leader();
    let mut follower = cluster.conn((leader + 1) % 3);
    follower.cmd(&["HELLO", "3"]);
    follower.cmd(&["SELECT", "4"]);
    assert_eq!(follower.cmd(&["HSET", "h", "f", "v"]).as_int(), Some(1));
    assert_eq!(
        follower.cmd(&["HGETALL", "h"]),
        Resp::Agg(
            b'%',
            Some(vec![
                Resp::Blob(b'$', Some(b"f".to_vec())),
                Resp::Blob(b'$', Some(b"v".to_vec()))
            ])
        )
    );
    assert!(follower.cmd(&["INCR", "h"]).is_error());
    let mut on_leader = cluster.conn(leader);
    on_leader.cmd(&["SELECT", "4"]);
    assert_eq!(
        bulk(&on_leader.cmd(&["HGET", "h", "f"])).as_deref(),
        Some("v")
    );
}

/// One step of a script for two clients: client 0 or 1 sends a command and reads its
/// reply, only sends it (a blocking command, answered later), or reads that late reply.
enum Step {
    Cmd(usize, &'static str),
    Send(usize, &'static str),
    Read(usize),
}

/// Every reply of `steps` run by two clients connected to `ports`, shown.
fn run_two_clients(ports: [u16; 2], steps: &[Step]) -> Vec<String> {
    let mut conns = ports.map(Conn::connect);
    let send = |conn: &mut Conn, line: &str| {
        let args = split(line);
        conn.send(&args.iter().map(Vec::as_slice).collect::<Vec<_>>());
    };
    let mut replies = Vec::new();
    for step in steps {
        match *step {
            Step::Cmd(c, line) => {
                send(&mut conns[c], line);
                replies.push(format!("{line} -> {}", conns[c].read().show()));
            }
            Step::Send(c, line) => {
                send(&mut conns[c], line);
                // Blocked before the other client goes on.
                std::thread::sleep(Duration::from_millis(300));
            }
            Step::Read(c) => replies.push(format!("late -> {}", conns[c].read().show())),
        }
    }
    replies
}

/// With `--forward-to-leader`, a follower's client can use MULTI/EXEC, WATCH and the
/// blocking commands as if connected to the leader: client 0 on a follower and client 1
/// on the leader get the replies two clients of one redis-server get.
#[test]
fn followers_forward_transactions_and_blocking_commands_like_redis() {
    use Step::*;
    let cluster = Cluster::start(3, &["--forward-to-leader"]);
    let leader = cluster.wait_leader();
    let follower = (leader + 1) % 3;
    let redis = start_redis();
    let steps = [
        Cmd(0, "SELECT 3"),
        Cmd(0, "MULTI"),
        Cmd(0, "SET a 1"),
        Cmd(0, "INCR a"),
        Cmd(0, "EXPIRE a 100"),
        Cmd(0, "SELECT 5"),
        Cmd(0, "SET b x"),
        Cmd(0, "EXEC"),
        Cmd(0, "GET b"),
        Cmd(0, "SELECT 3"),
        Cmd(0, "GET a"),
        Cmd(0, "TTL a"),
        // Replies whose null is an array in RESP2 keep that shape through forwarding.
        Cmd(0, "LPOP nolist 2"),
        Cmd(0, "LMPOP 1 nolist LEFT"),
        Cmd(0, "ZMPOP 1 nozset MIN"),
        // A runtime error inside a transaction, and a queuing error.
        Cmd(0, "MULTI"),
        Cmd(0, "INCR a"),
        Cmd(0, "LPUSH a x"),
        Cmd(0, "EXEC"),
        Cmd(0, "MULTI"),
        Cmd(0, "NOSUCHCOMMAND"),
        Cmd(0, "EXEC"),
        // WATCH on the follower sees a change made on the leader.
        Cmd(0, "WATCH w"),
        Cmd(1, "SELECT 3"),
        Cmd(1, "SET w theirs"),
        Cmd(0, "MULTI"),
        Cmd(0, "SET w ours"),
        Cmd(0, "EXEC"),
        Cmd(0, "GET w"),
        Cmd(0, "WATCH untouched"),
        Cmd(0, "MULTI"),
        Cmd(0, "INCR untouched"),
        Cmd(0, "EXEC"),
        // Blocking commands: served by a push on the leader, or timed out.
        Send(0, "BLPOP q 0"),
        Cmd(1, "RPUSH q v1 v2"),
        Read(0),
        Cmd(1, "LRANGE q 0 -1"),
        Send(0, "BLMOVE src dst LEFT RIGHT 0"),
        Cmd(1, "LPUSH src m"),
        Read(0),
        Cmd(0, "LRANGE dst 0 -1"),
        Cmd(0, "BLPOP empty 0.2"),
        Cmd(0, "BZPOPMIN nozset 0.2"),
        Cmd(0, "SET str x"),
        Cmd(0, "BLPOP str 0"),
    ];
    let ours = run_two_clients(
        [cluster.nodes[follower].port, cluster.nodes[leader].port],
        &steps,
    );
    let theirs = run_two_clients([redis.port, redis.port], &steps);
    assert_eq!(ours, theirs);
}

/// A client that leaves while its blocking command is forwarded takes the command on the
/// leader with it: a later push stays in the list instead of going to nobody.
#[test]
fn a_forwarded_blocking_command_ends_when_its_client_leaves() {
    let cluster = Cluster::start(3, &["--forward-to-leader"]);
    let leader = cluster.wait_leader();
    let mut on_leader = cluster.conn(leader);
    let blocked_on_leader = |conn: &mut Conn| {
        let list = conn.cmd(&["CLIENT", "LIST"]);
        let list = String::from_utf8_lossy(list.as_bytes().unwrap()).into_owned();
        list.lines().filter(|l| l.contains(" cmd=blpop ")).count()
    };
    let mut client = cluster.conn((leader + 1) % 3);
    client.send(&[b"BLPOP", b"gone", b"0"]);
    eventually(
        "the BLPOP blocked on the leader",
        Duration::from_secs(10),
        || (blocked_on_leader(&mut on_leader) == 1).then_some(()),
    );
    drop(client);
    eventually(
        "the BLPOP gone from the leader",
        Duration::from_secs(10),
        || (blocked_on_leader(&mut on_leader) == 0).then_some(()),
    );
    assert_eq!(on_leader.cmd(&["RPUSH", "gone", "v"]).as_int(), Some(1));
    assert_eq!(on_leader.cmd(&["LLEN", "gone"]).as_int(), Some(1));
}

/// A pipeline mixing writes, reads, errors and session commands runs in order on the
/// leader, even though adjacent writes share one log entry: every reply is the one
/// redis-server gives for the same bytes.
#[test]
fn a_pipeline_of_mixed_commands_answers_like_redis() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader();
    let redis = start_redis();
    let script = [
        "SET k 1",
        "INCR k",
        "GET k",
        "INCRBY k 10",
        "APPEND k x",
        "INCR k",
        "GET k",
        "RPUSH l a b c",
        "LPOP l",
        "LRANGE l 0 -1",
        "NOSUCHCOMMAND x",
        "SET",
        "DEL l",
        "SELECT 2",
        "SET k two",
        "GET k",
        "SELECT 0",
        "GET k",
        "MULTI",
        "INCR n",
        "SET m 1",
        "EXEC",
        "MGET k n m",
        "SADD s x y",
        "SCARD s",
        "EXPIRE k 100",
        "TTL k",
        "PERSIST k",
        "TTL k",
        "ZADD z 1 a 2 b",
        "ZINCRBY z 5 a",
        "ZRANGE z 0 -1 WITHSCORES",
    ];
    let mut pipeline = Vec::new();
    for line in script {
        let args = split(line);
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        pipeline.extend(encode(&args));
    }
    let replies = |port| {
        let mut conn = Conn::connect(port);
        conn.send_raw(&pipeline);
        script.iter().map(|_| conn.read()).collect::<Vec<_>>()
    };
    let ours = replies(cluster.nodes[leader].port);
    let theirs = replies(redis.port);
    for ((line, a), b) in script.iter().zip(&ours).zip(&theirs) {
        assert_eq!(a.show(), b.show(), "{line}");
    }
}
