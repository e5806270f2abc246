//! INFO, CONFIG, CLIENT and COMMAND: introspection and run-time settings.

use super::Session;
use crate::commands::{
    self, flags, glob_match_nocase, is, CommandError, CommandSpec, Keys, Run, SessionCmd,
};
use crate::protocol::Reply;
use crate::server::ClientMeta;
use bytes::Bytes;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub(super) fn run(
    session: &mut Session,
    cmd: SessionCmd,
    _spec: &CommandSpec,
    args: &[Bytes],
) -> Reply {
    use SessionCmd::*;
    let result = match cmd {
        Info => Ok(info(session, &args[1..])),
        ConfigGet => Ok(config_get(session, &args[2..])),
        ConfigSet => config_set(session, &args[2..]),
        ConfigResetstat => Ok(Reply::OK),
        ClientId => Ok(Reply::Int(session.id as i64)),
        ClientSetname => set_client_name(session, &args[2]).map(|()| Reply::OK),
        ClientGetname => Ok(Reply::bulk_opt(
            session.handle.meta.lock().name.clone().map(Bytes::from),
        )),
        ClientList => Ok(client_list(session)),
        ClientInfo => Ok(Reply::Verbatim(
            client_line(&session.handle.meta.lock()).into(),
        )),
        ClientKill => client_kill(session, &args[2..]),
        ClientNoEvict => Ok(Reply::OK),
        CommandList | CommandCount | CommandInfo | CommandDocs => command(args),
        _ => unreachable!("not an admin command: {cmd:?}"),
    };
    result.unwrap_or_else(Reply::from)
}

/// CLIENT SETNAME: no spaces, newlines or other special characters, as Redis requires.
pub(super) fn set_client_name(session: &Session, name: &[u8]) -> Result<(), CommandError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CommandError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    let name = (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
    session.handle.meta.lock().name = name;
    Ok(())
}

fn client_line(m: &ClientMeta) -> String {
    format!(
        "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={}\n",
        m.id,
        m.addr,
        m.laddr,
        m.name.as_deref().unwrap_or(""),
        m.created.elapsed().as_secs(),
        m.last_active.elapsed().as_secs(),
        if m.subscriptions + m.psubscriptions > 0 { "P" } else if m.in_multi { "x" } else { "N" },
        m.db,
        m.subscriptions,
        m.psubscriptions,
        if m.in_multi { 0 } else { -1 },
        m.last_command,
        m.resp,
    )
}

fn client_list(session: &Session) -> Reply {
    let clients = session.shared.clients.lock();
    let text: String = clients
        .values()
        .map(|c| client_line(&c.meta.lock()))
        .collect();
    Reply::Verbatim(text.into())
}

/// One condition of CLIENT KILL's filter form.
type ClientFilter = Box<dyn Fn(&ClientMeta) -> bool>;

/// `CLIENT KILL addr` (old form) or `CLIENT KILL [ID id] [ADDR addr] [LADDR addr] [SKIPME yes|no]`.
fn client_kill(session: &Session, args: &[Bytes]) -> Result<Reply, CommandError> {
    let clients: Vec<_> = session.shared.clients.lock().values().cloned().collect();
    if args.len() == 1 {
        let addr = String::from_utf8_lossy(&args[0]);
        let target = clients
            .iter()
            .find(|c| c.meta.lock().addr.to_string() == addr);
        let Some(target) = target else {
            return Err(CommandError::err("No such client"));
        };
        target.kill.notify_one();
        return Ok(Reply::OK);
    }
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    let mut skip_me = true;
    let mut filters: Vec<ClientFilter> = Vec::new();
    for pair in args.chunks(2) {
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        if is(&pair[0], "ID") {
            let id = commands::parse_i64(&pair[1])
                .map_err(|_| CommandError::err("client-id should be greater than 0"))?;
            filters.push(Box::new(move |m| m.id as i64 == id));
        } else if is(&pair[0], "ADDR") {
            filters.push(Box::new(move |m| m.addr.to_string() == value));
        } else if is(&pair[0], "LADDR") {
            filters.push(Box::new(move |m| m.laddr.to_string() == value));
        } else if is(&pair[0], "SKIPME") {
            skip_me = match value.as_str() {
                v if v.eq_ignore_ascii_case("yes") => true,
                v if v.eq_ignore_ascii_case("no") => false,
                _ => return Err(CommandError::Syntax),
            };
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let mut killed = 0;
    for client in &clients {
        let meta = client.meta.lock().clone();
        if skip_me && meta.id == session.id {
            continue;
        }
        if filters.iter().all(|f| f(&meta)) {
            client.kill.notify_one();
            killed += 1;
        }
    }
    Ok(Reply::Int(killed))
}

/// The settings CONFIG GET reports, with their current values.
fn config_values(session: &Session) -> Vec<(&'static str, String)> {
    let config = session.shared.config.read();
    vec![
        (
            "requirepass",
            config.requirepass.clone().unwrap_or_default(),
        ),
        ("maxclients", config.maxclients.to_string()),
        ("bind", config.bind.clone()),
        ("port", config.port.to_string()),
        ("databases", crate::keyspace::NUM_DBS.to_string()),
        ("save", String::new()),
        ("appendonly", "no".into()),
        (
            "proto-max-bulk-len",
            crate::protocol::MAX_BULK_LEN.to_string(),
        ),
        ("client-output-buffer-limit", config.output_limits.render()),
    ]
}

fn config_get(session: &Session, patterns: &[Bytes]) -> Reply {
    let pairs = config_values(session)
        .into_iter()
        .filter(|(name, _)| {
            patterns
                .iter()
                .any(|p| glob_match_nocase(p, name.as_bytes()))
        })
        .map(|(name, value)| (Reply::bulk(name), Reply::bulk(value)))
        .collect();
    Reply::Map(pairs)
}

fn config_set(session: &Session, args: &[Bytes]) -> Result<Reply, CommandError> {
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity("config|set"));
    }
    let mut config = session.shared.config.write();
    for pair in args.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        match name.as_str() {
            "requirepass" => config.requirepass = (!value.is_empty()).then_some(value),
            "maxclients" => {
                config.maxclients = value.parse().map_err(|_| {
                    CommandError::err("CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer")
                })?
            }
            "client-output-buffer-limit" => config.output_limits.set(&value).map_err(|e| {
                CommandError::err(format!("CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - {e}"))
            })?,
            _ => {
                return Err(CommandError::err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                )))
            }
        }
    }
    Ok(Reply::OK)
}

fn info(session: &Session, sections: &[Bytes]) -> Reply {
    let wanted = |name: &str| {
        sections.is_empty()
            || sections
                .iter()
                .any(|s| is(s, name) || is(s, "all") || is(s, "everything") || is(s, "default"))
    };
    let mut out = String::new();
    let shared = &session.shared;
    if wanted("server") {
        let _ = write!(
            out,
            "# Server\r\nredis_version:{}\r\ntinyredis_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\n\r\n",
            crate::REDIS_VERSION,
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            shared.config.read().port,
            shared.started.elapsed().as_secs(),
            shared.started.elapsed().as_secs() / 86400,
        );
    }
    if wanted("clients") {
        let _ = write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n\r\n",
            shared.connected_clients(),
            shared.config.read().maxclients
        );
    }
    if wanted("memory") {
        let rss = crate::metrics_support::resident_memory_bytes();
        let _ = write!(
            out,
            "# Memory\r\nused_memory:{rss}\r\nused_memory_rss:{rss}\r\n\r\n"
        );
    }
    let (stats, keyspace) = shared.engine.with_store(|store| {
        let keyspace: Vec<(usize, usize, usize)> = store
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, db)| !db.is_empty())
            .map(|(i, db)| (i, db.len(), db.volatile_len()))
            .collect();
        (store.stats.clone(), keyspace)
    });
    if wanted("stats") {
        let s = &shared.stats;
        let _ = write!(
            out,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n\r\n",
            s.connections_received.load(Ordering::Relaxed),
            s.commands_processed.load(Ordering::Relaxed),
            s.net_input_bytes.load(Ordering::Relaxed),
            s.net_output_bytes.load(Ordering::Relaxed),
            s.rejected_connections.load(Ordering::Relaxed),
            stats.expired_keys,
            stats.keyspace_hits,
            stats.keyspace_misses,
            shared.pubsub.channels(None).len(),
            shared.pubsub.numpat(),
            s.output_buffer_limit_disconnections.load(Ordering::Relaxed),
        );
    }
    if wanted("replication") {
        out.push_str(&replication_section(session));
    }
    if wanted("keyspace") {
        out.push_str("# Keyspace\r\n");
        for (i, keys, expires) in keyspace {
            let _ = write!(out, "db{i}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
    Reply::Verbatim(Bytes::from(
        out.trim_end_matches("\r\n").to_string() + "\r\n",
    ))
}

/// INFO replication: Redis's role field plus the original tinyredis's Raft fields.
fn replication_section(session: &Session) -> String {
    let Some(raft) = session.shared.engine.raft() else {
        return "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n".into();
    };
    let s = raft.status();
    let leader = s.leader.as_ref();
    let field = |v: Option<&String>| v.cloned().unwrap_or_default();
    let index = |v: Option<u64>| v.unwrap_or(0);
    let mut out = String::from("# Replication\r\n");
    let _ = write!(
        out,
        "role:{}\r\nnode_id:{}\r\nadvertise_addr:{}\r\nresp_addr:{}\r\nraft_state:{}\r\nraft_term:{}\r\nraft_commit_index:{}\r\nraft_applied_index:{}\r\nraft_last_log_index:{}\r\nleader_id:{}\r\nleader_raft_addr:{}\r\nleader_resp_addr:{}\r\nleader_http_addr:{}\r\nknown_peers:{}\r\n",
        if s.role == "leader" { "master" } else { "slave" },
        s.id,
        raft.me.raft_addr,
        raft.me.resp_addr,
        s.role,
        s.term,
        index(s.commit_index),
        index(s.applied_index),
        index(s.last_log_index),
        field(s.leader_id.as_ref()),
        field(leader.map(|l| &l.raft_addr)),
        field(leader.map(|l| &l.resp_addr)),
        field(leader.map(|l| &l.http_addr)),
        s.members.len(),
    );
    for (i, m) in s.members.iter().enumerate() {
        let _ = write!(
            out,
            "peer{i}:id={},raft_addr={},resp_addr={},suffrage={},self={}\r\n",
            m.id,
            m.raft_addr,
            m.resp_addr,
            if m.role == "voter" {
                "Voter"
            } else {
                "Nonvoter"
            },
            m.id == s.id
        );
    }
    out.push_str("\r\n");
    out
}

/// COMMAND, COMMAND COUNT, COMMAND INFO name…, COMMAND DOCS name….
fn command(args: &[Bytes]) -> Result<Reply, CommandError> {
    let table = commands::table();
    let Some(sub) = args.get(1) else {
        return Ok(Reply::Array(
            table.values().map(|s| command_info(s)).collect(),
        ));
    };
    if is(sub, "COUNT") {
        return Ok(Reply::Int(table.len() as i64));
    }
    if is(sub, "INFO") {
        return Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|n| commands::lookup(n).map_or(Reply::NilArray, command_info))
                .collect(),
        ));
    }
    if is(sub, "DOCS") {
        let specs: Vec<&CommandSpec> = if args.len() == 2 {
            table.values().copied().collect()
        } else {
            args[2..]
                .iter()
                .filter_map(|n| commands::lookup(n))
                .collect()
        };
        return Ok(Reply::Map(
            specs
                .into_iter()
                .map(|s| (Reply::bulk(s.name), command_docs(s)))
                .collect(),
        ));
    }
    if is(sub, "LIST") {
        return Ok(Reply::Array(
            table.keys().map(|n| Reply::bulk(*n)).collect(),
        ));
    }
    Err(CommandError::unknown_subcommand("command", sub))
}

fn command_info(spec: &CommandSpec) -> Reply {
    let flag_names = flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, name)| Reply::Status((*name).into()))
        .collect();
    let (first, last, step) = match spec.keys {
        Keys::None => (0, 0, 0),
        Keys::Range { first, last, step } => (first as i64, last as i64, step as i64),
        Keys::NumKeys { .. } => (0, 0, 0),
    };
    let subcommands = match spec.run {
        Run::Container(subs) => subs.iter().map(command_info).collect(),
        _ => vec![],
    };
    Reply::Array(vec![
        Reply::bulk(spec.name),
        Reply::Int(spec.arity as i64),
        Reply::Set(flag_names),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        Reply::Set(vec![]),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(subcommands),
    ])
}

fn command_docs(spec: &CommandSpec) -> Reply {
    Reply::Map(vec![
        (Reply::bulk("summary"), Reply::bulk(spec.summary)),
        (Reply::bulk("since"), Reply::bulk("1.0.0")),
        (Reply::bulk("group"), Reply::bulk(spec.group)),
    ])
}
