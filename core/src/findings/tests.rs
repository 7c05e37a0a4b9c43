//! Unusual-use detection on synthetic traffic written through the real usage path (the
//! hot path's buffer and its batched write), over a simulated week that starts in the
//! next hour: steady traffic with noise finds nothing, and each injected pattern is
//! found by one evaluation, with its kind and evidence.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::*;
use crate::audit::Origin;
use crate::identity::{Actor, Role};
use crate::keys::{KeyService, KeyspaceChanges, KeyspaceService, NewKeyInput};
use crate::test_support::{hasher, head, kinds_after, user};
use crate::usage::buffer::hour_of;
use crate::usage::{LoggedVerification, UsageBuffer};
use crate::verify::Code;

/// Hours of history before the injected hour.
const WEEK: i64 = 7 * 24;

struct World {
    pool: PgPool,
    keys: KeyService,
    admin: Actor,
    keyspace: Uuid,
    /// The first simulated hour (after the keys' creation).
    start: DateTime<Utc>,
    detector: Detector,
}

impl World {
    async fn new(pool: PgPool) -> Self {
        let admin = Actor::from(&user(&pool, "admin@example.com", Role::Admin).await);
        let keyspace = KeyspaceService::new(pool.clone(), hasher())
            .create(admin, "Payments", "pay", None, &Origin::default())
            .await
            .expect("keyspace")
            .id;
        Self {
            keys: KeyService::new(pool.clone(), hasher()),
            detector: Detector::new(pool.clone(), AnomalyRules::default()),
            start: hour_of(Utc::now()) + TimeDelta::hours(1),
            pool,
            admin,
            keyspace,
        }
    }

    async fn key(&self, name: &str, keyspace: Uuid) -> Uuid {
        self.keys
            .create(
                self.admin,
                keyspace,
                NewKeyInput {
                    name: name.into(),
                    ..NewKeyInput::default()
                },
                &Origin::default(),
            )
            .await
            .expect("key")
            .view
            .id
    }

    fn hour(&self, n: i64) -> DateTime<Utc> {
        self.start + TimeDelta::hours(n)
    }

    /// Writes what `buffer` counted, as the flusher does.
    async fn flush(&self, buffer: &UsageBuffer) {
        crate::usage::store::write(&self.pool, &buffer.take(), buffer.keep())
            .await
            .expect("usage written");
    }

    async fn evaluate(&self, at: DateTime<Utc>) -> Evaluation {
        self.detector
            .evaluate(at)
            .await
            .expect("evaluated")
            .expect("nobody else evaluating")
    }

    async fn findings_of(&self, key: Uuid) -> Vec<Finding> {
        FindingService::new(self.pool.clone())
            .list(
                self.admin,
                &FindingFilter {
                    key_id: Some(key),
                    open: None,
                    kind: None,
                },
                None,
                200,
            )
            .await
            .expect("findings")
    }
}

/// A deterministic noise source in [-1, 1].
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as f64 / f64::from(u32::MAX >> 1)) * 2.0 - 1.0
    }
}

fn record(buffer: &UsageBuffer, key: Uuid, at: DateTime<Utc>, code: Code, ip: &str) {
    buffer.record(
        key,
        LoggedVerification {
            at,
            code,
            client_ip: Some(ip.parse().expect("ip")),
            verifier: Uuid::nil(),
        },
    );
}

/// How a key is used in its ordinary week.
#[derive(Clone, Copy)]
struct Habit {
    /// Verifications in an average hour.
    per_hour: f64,
    /// The addresses it is used from (one network each; the last octet varies).
    networks: &'static [&'static str],
    /// Its share of ordinary refusals (a misconfigured client, a bad scope).
    refused: f64,
}

const HABITS: [Habit; 6] = [
    Habit {
        per_hour: 40.0,
        networks: &["203.0.113"],
        refused: 0.0,
    },
    Habit {
        per_hour: 150.0,
        networks: &["203.0.113", "198.51.100"],
        refused: 0.02,
    },
    Habit {
        per_hour: 600.0,
        networks: &["192.0.2", "203.0.113", "100.64.7"],
        refused: 0.05,
    },
    Habit {
        per_hour: 2000.0,
        networks: &["10.1.2", "10.1.3"],
        refused: 0.01,
    },
    Habit {
        per_hour: 3.0,
        networks: &["172.16.4"],
        refused: 0.0,
    },
    Habit {
        per_hour: 250.0,
        networks: &["2001:db8:77"],
        refused: 0.1,
    },
];

/// Writes `hours` of `habit` for `key` from the world's start: a day-night rhythm (busier
/// by day, half as busy at night) with 25% noise, spread over its networks.
async fn week_of(world: &World, key: Uuid, habit: Habit, seed: u64, hours: i64) {
    let mut noise = Noise(seed);
    let buffer = UsageBuffer::new(0);
    for h in 0..hours {
        let day = (std::f64::consts::TAU * (h % 24) as f64 / 24.0).sin();
        let n = (habit.per_hour * (1.0 + 0.33 * day) * (1.0 + 0.25 * noise.next()))
            .round()
            .max(0.0) as i64;
        for i in 0..n {
            let at = world.hour(h) + TimeDelta::seconds(i * 3599 / n.max(1));
            let net = habit.networks[usize::try_from(i).unwrap_or(0) % habit.networks.len()];
            let ip = if net.contains(':') {
                format!("{net}:{:x}::{}", i % 7, i % 250 + 1)
            } else {
                format!("{net}.{}", i % 250 + 1)
            };
            let code = if (noise.next() + 1.0) / 2.0 < habit.refused {
                Code::ForbiddenIp
            } else {
                Code::Valid
            };
            record(&buffer, key, at, code, &ip);
        }
        if h % 24 == 23 {
            world.flush(&buffer).await;
        }
    }
    world.flush(&buffer).await;
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_week_of_steady_traffic_with_noise_finds_nothing(pool: PgPool) {
    let world = World::new(pool).await;
    let start = head(&world.pool).await;
    for (i, habit) in HABITS.iter().enumerate() {
        let key = world.key(&format!("steady {i}"), world.keyspace).await;
        week_of(&world, key, *habit, 7 + i as u64, WEEK).await;
    }
    // Every 3 hours across the week, as the detector would see it then.
    let mut judged = 0;
    for h in (1..WEEK).step_by(3) {
        let evaluation = world.evaluate(world.hour(h) + TimeDelta::minutes(30)).await;
        assert!(
            evaluation.found.is_empty(),
            "hour {h}: {:?}",
            evaluation.found
        );
        judged += evaluation.keys;
    }
    assert!(judged >= 6 * 50, "the keys were judged ({judged})");
    assert!(
        kinds_after(&world.pool, start)
            .await
            .iter()
            .all(|k| *k != "key.anomaly")
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn each_injected_pattern_is_found_in_one_evaluation(pool: PgPool) {
    let world = World::new(pool).await;
    let guarded = KeyspaceService::new(world.pool.clone(), hasher());
    let strict = guarded
        .create(world.admin, "Strict", "strict", None, &Origin::default())
        .await
        .expect("keyspace")
        .id;
    guarded
        .update(
            world.admin,
            strict,
            &KeyspaceChanges {
                anomaly_action: Some(AnomalyAction::Disable),
                ..KeyspaceChanges::default()
            },
            &Origin::default(),
        )
        .await
        .expect("policy");
    let habit = HABITS[1];
    let new_network = world.key("new network", world.keyspace).await;
    let many_networks = world.key("many networks", strict).await;
    let spike = world.key("spike", world.keyspace).await;
    let surge = world.key("refusals", world.keyspace).await;
    let quiet = world.key("quiet", world.keyspace).await;
    for (i, key) in [new_network, many_networks, spike, surge]
        .into_iter()
        .enumerate()
    {
        week_of(&world, key, habit, 100 + i as u64, WEEK).await;
    }
    week_of(&world, quiet, HABITS[4], 99, WEEK).await;

    // The injected hour.
    let hour = world.hour(WEEK);
    let at = |s: i64| hour + TimeDelta::seconds(s);
    let buffer = UsageBuffer::new(0);
    for i in 0..150 {
        record(&buffer, new_network, at(i), Code::Valid, "203.0.113.9");
        record(&buffer, many_networks, at(i), Code::Valid, "203.0.113.9");
        record(&buffer, surge, at(i), Code::Valid, "203.0.113.9");
    }
    record(&buffer, new_network, at(200), Code::Valid, "192.0.2.200");
    for i in 0..40 {
        record(
            &buffer,
            many_networks,
            at(300 + i),
            Code::Valid,
            &format!("10.{i}.5.9"),
        );
    }
    for i in 0..3000 {
        record(&buffer, spike, at(i % 3600), Code::Valid, "203.0.113.9");
    }
    for i in 0..300 {
        record(
            &buffer,
            surge,
            at(400 + i),
            Code::ForbiddenIp,
            "203.0.113.9",
        );
    }
    for i in 0..100 {
        record(
            &buffer,
            surge,
            at(800 + i),
            Code::RateLimited,
            "203.0.113.9",
        );
    }
    // A quiet key tripling its traffic stays below the minimum volume.
    for i in 0..12 {
        record(&buffer, quiet, at(i), Code::Valid, "172.16.4.1");
    }
    world.flush(&buffer).await;

    let before = head(&world.pool).await;
    let evaluation = world.evaluate(hour + TimeDelta::minutes(50)).await;
    assert_eq!(evaluation.found.len(), 4, "{:?}", evaluation.found);

    let only = |findings: &[Finding], kind: FindingKind| {
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].kind, kind);
        assert_eq!(findings[0].window_start, hour);
        findings[0].clone()
    };
    let f = only(
        &world.findings_of(new_network).await,
        FindingKind::NewNetwork,
    );
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.evidence["network"], "192.0.2.0/24");
    assert_eq!(f.evidence["requests"], 1);
    assert_eq!(f.evidence["known_networks"], 2);

    let f = only(
        &world.findings_of(many_networks).await,
        FindingKind::ManyNetworks,
    );
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.evidence["networks"], 41);
    assert_eq!(
        f.action,
        FindingAction::Disabled,
        "the strict keyspace disables"
    );
    let disabled = world
        .keys
        .get(world.admin, many_networks)
        .await
        .expect("key");
    assert!(!disabled.enabled);

    let f = only(&world.findings_of(spike).await, FindingKind::VolumeSpike);
    assert_eq!(f.evidence["requests"], 3000);
    assert_eq!(f.action, FindingAction::None, "notify only");
    assert!(
        world
            .keys
            .get(world.admin, spike)
            .await
            .expect("key")
            .enabled
    );

    let f = only(&world.findings_of(surge).await, FindingKind::RefusalSurge);
    assert_eq!(f.evidence["refused"], 400);
    assert_eq!(f.evidence["forbidden"], 300);
    assert_eq!(f.evidence["rate_limited"], 100);

    assert!(world.findings_of(quiet).await.is_empty());

    let kinds = kinds_after(&world.pool, before).await;
    assert_eq!(
        kinds.iter().filter(|k| **k == "key.anomaly").count(),
        4,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"key.disabled"), "{kinds:?}");

    // The next evaluation, by this or another instance, finds nothing new.
    let again = world.evaluate(hour + TimeDelta::minutes(55)).await;
    assert!(again.found.is_empty(), "{:?}", again.found);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_old_key_used_late_in_its_grace_is_found(pool: PgPool) {
    let world = World::new(pool).await;
    let old = world.key("rotated", world.keyspace).await;
    let rotated = world
        .keys
        .rotate(world.admin, old, Some(24 * 3600), &Origin::default())
        .await
        .expect("rotated");
    let new = rotated.new.view.id;
    let now = Utc::now();
    let buffer = UsageBuffer::new(0);
    record(
        &buffer,
        old,
        now + TimeDelta::hours(2),
        Code::Valid,
        "203.0.113.9",
    );
    record(
        &buffer,
        new,
        now + TimeDelta::hours(2),
        Code::Valid,
        "203.0.113.9",
    );
    world.flush(&buffer).await;
    // Used early in the grace: nothing yet.
    let early = world.evaluate(now + TimeDelta::hours(3)).await;
    assert!(early.found.is_empty(), "{:?}", early.found);
    record(
        &buffer,
        old,
        now + TimeDelta::hours(20),
        Code::Valid,
        "203.0.113.9",
    );
    world.flush(&buffer).await;
    let late = world
        .evaluate(now + TimeDelta::hours(20) + TimeDelta::minutes(5))
        .await;
    assert_eq!(
        late.found,
        [(FindingKind::LateRotationUse, Severity::Medium)]
    );
    let findings = world.findings_of(old).await;
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].evidence["new_key_id"], new.to_string());
    assert_eq!(findings[0].evidence["uses_late"], 1);
    assert!(world.findings_of(new).await.is_empty());
}
