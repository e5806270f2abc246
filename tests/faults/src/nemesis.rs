//! The fault schedule: quiet for a while, one fault held for a while, healed, again,
//! until the run ends. Which faults, and whom they hit, come from the run's seed.

use crate::cluster::Cluster;
use crate::history::Clock;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultSet {
    All,
    Kill,
    Pause,
    Partition,
    Membership,
    Snapshot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    KillLeader,
    KillMinority,
    KillAll,
    PauseLeader,
    PauseMinority,
    PartitionHalves,
    PartitionLeader,
    PartitionRing,
    RemoveAndReadd,
    GrowAndShrink,
    TransferLeadership,
}

impl FaultSet {
    /// The faults of this set. Snapshot pressure is a tiny snapshot threshold (see
    /// `RunConfig`) with faults that make nodes fall behind and catch up.
    pub fn faults(self) -> Vec<Fault> {
        use Fault::*;
        match self {
            FaultSet::Kill => vec![KillLeader, KillMinority, KillAll],
            FaultSet::Pause => vec![PauseLeader, PauseMinority],
            FaultSet::Partition => vec![PartitionHalves, PartitionLeader, PartitionRing],
            FaultSet::Membership => vec![RemoveAndReadd, GrowAndShrink, TransferLeadership],
            FaultSet::Snapshot => vec![KillMinority, PauseMinority, RemoveAndReadd],
            FaultSet::All => vec![
                KillLeader,
                KillMinority,
                KillAll,
                PauseLeader,
                PauseMinority,
                PartitionHalves,
                PartitionLeader,
                PartitionRing,
                RemoveAndReadd,
                GrowAndShrink,
                TransferLeadership,
            ],
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FaultEvent {
    pub fault: Fault,
    pub targets: Vec<String>,
    pub start: u64,
    pub end: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Schedule {
    pub faults: Vec<Fault>,
    pub quiet: Duration,
    pub hold: Duration,
    /// Members the cluster grows to in `GrowAndShrink`.
    pub grow_to: usize,
}

/// Runs the schedule until `until` (clock nanoseconds), then heals everything.
pub fn run(
    cluster: &mut Cluster,
    schedule: &Schedule,
    rng: &mut SmallRng,
    clock: Clock,
    until: u64,
) -> Vec<FaultEvent> {
    let mut events = Vec::new();
    let span = |d: Duration, rng: &mut SmallRng| d.mul_f64(rng.gen_range(0.5..1.5));
    // Every fault once per round, in a seeded order, so a short run still covers them.
    let mut round = Vec::new();
    loop {
        std::thread::sleep(span(schedule.quiet, rng));
        let hold = span(schedule.hold, rng);
        if clock.now() + hold.as_nanos() as u64 >= until {
            break;
        }
        if round.is_empty() {
            round = schedule.faults.clone();
            round.shuffle(rng);
        }
        let fault = round.pop().expect("at least one fault");
        let start = clock.now();
        let mut targets = Vec::new();
        let result = inject(cluster, fault, schedule, hold, rng, &mut targets);
        events.push(FaultEvent {
            fault,
            targets: targets
                .iter()
                .map(|&i| cluster.nodes[i].name.clone())
                .collect(),
            start,
            end: clock.now(),
            error: result.err().map(|e| format!("{e:#}")),
        });
        if let Err(e) = cluster.heal() {
            eprintln!("nemesis: healing after {fault:?} failed: {e:#}");
        }
    }
    events
}

/// `n` random running members.
fn pick(cluster: &Cluster, n: usize, rng: &mut SmallRng) -> Vec<usize> {
    let mut members: Vec<usize> = cluster.running_members().collect();
    members.shuffle(rng);
    members.truncate(n);
    members
}

fn minority(cluster: &Cluster) -> usize {
    (cluster.members().len() - 1) / 2
}

fn leader_or_any(cluster: &Cluster, rng: &mut SmallRng) -> Vec<usize> {
    match cluster.leader() {
        Some(l) => vec![l],
        None => pick(cluster, 1, rng),
    }
}

/// Injects `fault`, holds it for `hold`, and undoes it; `targets` names who was hit.
fn inject(
    cluster: &mut Cluster,
    fault: Fault,
    schedule: &Schedule,
    hold: Duration,
    rng: &mut SmallRng,
    targets: &mut Vec<usize>,
) -> anyhow::Result<()> {
    match fault {
        Fault::KillLeader | Fault::KillMinority | Fault::KillAll => {
            *targets = match fault {
                Fault::KillLeader => leader_or_any(cluster, rng),
                Fault::KillMinority => pick(cluster, minority(cluster), rng),
                _ => cluster.running_members().collect(),
            };
            targets.iter().for_each(|&i| cluster.kill(i));
            std::thread::sleep(hold);
            targets.iter().try_for_each(|&i| cluster.restart(i))
        }
        Fault::PauseLeader | Fault::PauseMinority => {
            *targets = match fault {
                Fault::PauseLeader => leader_or_any(cluster, rng),
                _ => pick(cluster, minority(cluster), rng),
            };
            targets.iter().for_each(|&i| cluster.pause(i));
            std::thread::sleep(hold);
            targets.iter().for_each(|&i| cluster.resume(i));
            Ok(())
        }
        Fault::PartitionHalves | Fault::PartitionLeader => {
            let mut members = cluster.members();
            members.shuffle(rng);
            *targets = match fault {
                Fault::PartitionLeader => leader_or_any(cluster, rng),
                _ => members[..minority(cluster)].to_vec(),
            };
            let rest: Vec<usize> = members
                .into_iter()
                .filter(|m| !targets.contains(m))
                .collect();
            cluster.partition(&[targets.clone(), rest])?;
            std::thread::sleep(hold);
            Ok(())
        }
        Fault::PartitionRing => {
            *targets = cluster.members();
            targets.shuffle(rng);
            ring(cluster, targets)?;
            std::thread::sleep(hold);
            Ok(())
        }
        Fault::RemoveAndReadd => {
            *targets = pick(cluster, 1, rng);
            cluster.remove(targets[0])?;
            std::thread::sleep(hold);
            cluster.join(targets[0])
        }
        Fault::GrowAndShrink => grow_and_shrink(cluster, schedule.grow_to, hold, rng, targets),
        Fault::TransferLeadership => {
            *targets = vec![cluster.transfer_leadership()?];
            std::thread::sleep(hold);
            Ok(())
        }
    }
}

/// Every node hears only its two neighbours in `order`. Three nodes in a ring all hear
/// each other, so there the first becomes a bridge: the other two hear only it.
fn ring(cluster: &Cluster, order: &[usize]) -> anyhow::Result<()> {
    let n = order.len();
    for (pos, &i) in order.iter().enumerate() {
        let neighbours = match n {
            ..=3 if pos == 0 => order.to_vec(),
            ..=3 => vec![order[0]],
            _ => vec![order[(pos + 1) % n], order[(pos + n - 1) % n]],
        };
        let cut: Vec<usize> = order
            .iter()
            .copied()
            .filter(|p| *p != i && !neighbours.contains(p))
            .collect();
        cluster.cut(i, &cut)?;
    }
    Ok(())
}

/// Adds empty nodes until there are `grow_to` members, then removes random members
/// (maybe the leader, maybe an original) back down to the starting size.
fn grow_and_shrink(
    cluster: &mut Cluster,
    grow_to: usize,
    hold: Duration,
    rng: &mut SmallRng,
    targets: &mut Vec<usize>,
) -> anyhow::Result<()> {
    let size = cluster.members().len();
    let spare: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| !cluster.nodes[i].member)
        .take(grow_to.saturating_sub(size))
        .collect();
    for &i in &spare {
        targets.push(i);
        cluster.join(i)?;
    }
    std::thread::sleep(hold);
    let mut members = cluster.members();
    members.shuffle(rng);
    for &i in &members[..members.len() - size] {
        targets.push(i);
        cluster.remove(i)?;
    }
    Ok(())
}
