//! Leader election on a `coordination.k8s.io` Lease, so two operator
//! replicas never reconcile at once. Updates go through `replace` with the
//! resourceVersion read, so of two replicas racing for an expired lease
//! only one write succeeds.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::Api;

pub const LEASE_NAME: &str = "tinyredis-operator-leader";
/// How long a lease stays valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews (and others retry).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(5);

pub struct LeaseLock {
    api: Api<Lease>,
    identity: String,
}

/// Whether `identity` may take or keep the lease at `now`.
pub fn may_hold(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> bool {
    let Some(spec) = spec else { return true };
    let holder = spec.holder_identity.as_deref();
    if holder.is_none_or(|h| h == identity || h.is_empty()) {
        return true;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    spec.renew_time
        .as_ref()
        .is_none_or(|renewed| renewed.0 + duration < now)
}

impl LeaseLock {
    pub fn new(api: Api<Lease>, identity: String) -> Self {
        Self { api, identity }
    }

    /// Takes or renews the lease; Ok(false) when someone else holds it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(LEASE_NAME).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE_NAME.into()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.held_spec(None, now)),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        if !may_hold(lease.spec.as_ref(), &self.identity, now) {
            return Ok(false);
        }
        lease.spec = Some(self.held_spec(lease.spec.take(), now));
        conflict_is_false(
            self.api
                .replace(LEASE_NAME, &PostParams::default(), &lease)
                .await,
        )
    }

    fn held_spec(&self, previous: Option<LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let previous = previous.unwrap_or_default();
        let taking_over = previous.holder_identity.as_deref() != Some(self.identity.as_str());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: if taking_over {
                Some(MicroTime(now))
            } else {
                previous.acquire_time
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(
                previous.lease_transitions.unwrap_or(0) + i32::from(taking_over),
            ),
            ..previous
        }
    }
}

/// A 409 means another replica wrote first: not ours this round.
fn conflict_is_false<T>(result: Result<T, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, renewed_at: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed_at).unwrap())),
            ..LeaseSpec::default()
        }
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn a_missing_or_own_lease_may_be_held() {
        assert!(may_hold(None, "a", at(100)));
        assert!(may_hold(Some(&held_by("a", 100)), "a", at(101)));
    }

    #[test]
    fn another_holders_fresh_lease_is_respected_until_it_expires() {
        let lease = held_by("b", 100);
        assert!(!may_hold(Some(&lease), "a", at(110)));
        assert!(may_hold(Some(&lease), "a", at(116)));
    }
}
