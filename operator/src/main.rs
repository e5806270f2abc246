use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::routing::get;
use clap::{Parser, Subcommand};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client};
use tinyredis_operator::admin::{DnsResolver, HttpAdmin};
use tinyredis_operator::builders::{FIELD_MANAGER, LABEL_MANAGED_BY};
use tinyredis_operator::crd::{crd_yaml, TinyRedisCluster};
use tinyredis_operator::leader::{LeaseLock, RENEW_INTERVAL};
use tinyredis_operator::metrics::Metrics;
use tinyredis_operator::reconcile::{error_policy, reconcile, Context};
use tokio::sync::watch;

/// Kubernetes operator for tinyredis clusters.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (the default).
    Run,
    /// Print the TinyRedisCluster CustomResourceDefinition as YAML.
    Crd,
    /// Print every API access the operator needs as JSON (for packaging checks).
    #[command(hide = true)]
    Rbac,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Watch only this namespace; all namespaces when absent.
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Address of the /metrics and /healthz server.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Namespace of the leader-election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease.
    #[arg(long, env = "POD_NAME", default_value = "tinyredis-operator")]
    identity: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Crd => {
            print!("{}", crd_yaml());
            Ok(())
        }
        Command::Rbac => {
            println!("{}", tinyredis_operator::rbac::api_access_json());
            Ok(())
        }
        Command::Run => run(cli.run).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(stop_on_sigterm(stop_tx.clone()));
    let server = tokio::spawn(serve_metrics(
        args.metrics_addr,
        metrics.clone(),
        stop_rx.clone(),
    ));

    let lock = LeaseLock::new(
        Api::<Lease>::namespaced(client.clone(), &args.lease_namespace),
        args.identity.clone(),
    );
    if !wait_for_leadership(&lock, stop_rx.clone()).await? {
        return Ok(());
    }
    tracing::info!(identity = %args.identity, "leading; starting the controller");
    tokio::spawn(keep_leadership(lock, stop_tx.clone()));

    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(HttpAdmin::new(Arc::new(DnsResolver))),
        metrics,
        Some(args.identity),
    ));
    run_controller(client, args.namespace, ctx, stop_rx).await;
    server.await.context("metrics server task")??;
    Ok(())
}

/// Reconciles clusters, and again whenever a child they own changes.
async fn run_controller(
    client: Client,
    namespace: Option<String>,
    ctx: Arc<Context>,
    stop: watch::Receiver<bool>,
) {
    /// One namespace with --namespace, every namespace without.
    fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let children =
        watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={FIELD_MANAGER}"));
    Controller::new(
        api::<TinyRedisCluster>(&client, &namespace),
        watcher::Config::default(),
    )
    .owns(api::<StatefulSet>(&client, &namespace), children.clone())
    .owns(api::<Deployment>(&client, &namespace), children.clone())
    .owns(api::<Service>(&client, &namespace), children.clone())
    .owns(api::<ConfigMap>(&client, &namespace), children.clone())
    .owns(api::<ServiceAccount>(&client, &namespace), children.clone())
    .owns(api::<PodDisruptionBudget>(&client, &namespace), children)
    .graceful_shutdown_on(stopped(stop))
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "controller event");
        }
    })
    .await;
}

/// Retries the lease until held; false if asked to stop first.
async fn wait_for_leadership(
    lock: &LeaseLock,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    loop {
        match lock.try_acquire_or_renew().await {
            Ok(true) => return Ok(true),
            Ok(false) => tracing::info!("another replica leads; waiting"),
            Err(error) => tracing::warn!(%error, "leader election failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RENEW_INTERVAL) => {}
            _ = stop.changed() => return Ok(false),
        }
    }
}

/// Renews the lease; on losing it, stops the controller so two replicas
/// never reconcile together (the pod restarts and queues for the lease).
async fn keep_leadership(lock: LeaseLock, stop: watch::Sender<bool>) {
    loop {
        tokio::time::sleep(RENEW_INTERVAL).await;
        match lock.try_acquire_or_renew().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!("lost the leader lease; stopping");
                let _ = stop.send(true);
                return;
            }
            Err(error) => tracing::warn!(%error, "could not renew the leader lease"),
        }
    }
}

async fn stop_on_sigterm(stop: watch::Sender<bool>) {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
}

/// Resolves once a stop was requested.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(move || async move { metrics.render() }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped(stop))
        .await?;
    Ok(())
}
