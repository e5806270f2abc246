//! An in-memory Kubernetes API server, enough for the reconciler: objects
//! stored by path; GET, LIST (with label selectors), POST, PATCH (apply,
//! merge and JSON patch), DELETE with finalizers, and the status
//! subresource. Handed to `kube::Client::new` as a tower service.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{json, Value};

/// One request as the server saw it, for RBAC checks.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub group: String,
    pub resource: String,
    pub collection: bool,
    pub watch: bool,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    /// Every write of an Event (creations and series updates), in order.
    event_log: Vec<Value>,
    version: u64,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

/// A request path taken apart.
struct Target {
    /// `/api/v1` or `/apis/<group>/<version>`.
    prefix: String,
    group: String,
    namespace: Option<String>,
    resource: String,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn parse(path: &str) -> Target {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (prefix, group, rest) = if parts[0] == "api" {
            (format!("/api/{}", parts[1]), String::new(), &parts[2..])
        } else {
            (
                format!("/apis/{}/{}", parts[1], parts[2]),
                parts[1].to_string(),
                &parts[3..],
            )
        };
        let (namespace, rest) = if rest.first() == Some(&"namespaces") && rest.len() > 2 {
            (Some(rest[1].to_string()), &rest[2..])
        } else {
            (None, rest)
        };
        Target {
            prefix,
            group,
            namespace,
            resource: rest[0].to_string(),
            name: rest.get(1).map(|s| s.to_string()),
            subresource: rest.get(2).map(|s| s.to_string()),
        }
    }

    fn key(&self, name: &str) -> String {
        let ns = self.namespace.as_deref().unwrap_or("");
        format!("{}/namespaces/{ns}/{}/{name}", self.prefix, self.resource)
    }

    fn collection(&self) -> String {
        format!(
            "{}/namespaces/{}/{}/",
            self.prefix,
            self.namespace.as_deref().unwrap_or(""),
            self.resource
        )
    }
}

/// Path of an object, as tests name it: `path("apps/v1", "statefulsets", "prod", "demo")`.
pub fn path(api_version: &str, resource: &str, namespace: &str, name: &str) -> String {
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    format!("{prefix}/namespaces/{namespace}/{resource}/{name}")
}

impl FakeApi {
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Stores an object as-is (metadata is completed as a create would).
    pub fn insert(&self, path: &str, mut object: Value) {
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        complete_metadata(&mut object, state.version);
        state.objects.insert(path.to_string(), object);
    }

    /// Changes a stored object in place, atomically with respect to the
    /// reconciler's requests; false when there is no such object.
    pub fn update(&self, path: &str, change: impl FnOnce(&mut Value)) -> bool {
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        let version = state.version;
        let Some(object) = state.objects.get_mut(path) else {
            return false;
        };
        change(object);
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        true
    }

    /// Stores an object unless one is stored at `path`; true if it was.
    pub fn insert_if_absent(&self, path: &str, object: Value) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.objects.contains_key(path) {
            return false;
        }
        state.version += 1;
        let mut object = object;
        complete_metadata(&mut object, state.version);
        state.objects.insert(path.to_string(), object);
        true
    }

    pub fn remove(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.remove(path)
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    /// Objects whose path starts with `prefix`, e.g. every event.
    pub fn list(&self, prefix: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every Event written, oldest first, repeats of a series included.
    pub fn event_log(&self) -> Vec<Value> {
        self.state.lock().unwrap().event_log.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn handle(
        &self,
        method: Method,
        path: &str,
        query: &str,
        content_type: &str,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let target = Target::parse(path);
        let mut state = self.state.lock().unwrap();
        state.requests.push(Recorded {
            method: method.clone(),
            group: target.group.clone(),
            resource: match &target.subresource {
                Some(sub) => format!("{}/{sub}", target.resource),
                None => target.resource.clone(),
            },
            collection: target.name.is_none(),
            watch: query.contains("watch=true"),
        });
        state.version += 1;
        let version = state.version;
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body).expect("JSON body")
        };
        match (method, &target.name) {
            (Method::GET, None) => {
                let selector = query_param(query, "labelSelector");
                let items: Vec<Value> = state
                    .objects
                    .iter()
                    .filter(|(k, _)| k.starts_with(&target.collection()))
                    .map(|(_, v)| v.clone())
                    .filter(|v| selector.as_deref().is_none_or(|s| matches_selector(v, s)))
                    .collect();
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": version.to_string()}, "items": items}),
                )
            }
            (Method::GET, Some(name)) => match state.objects.get(&target.key(name)) {
                Some(object) => (StatusCode::OK, object.clone()),
                None => not_found(name),
            },
            (Method::POST, None) => {
                let mut object = body;
                let name = object["metadata"]["name"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| format!("generated-{version}"));
                object["metadata"]["name"] = json!(name);
                object["metadata"]["namespace"] = json!(target.namespace);
                complete_metadata(&mut object, version);
                state.objects.insert(target.key(&name), object.clone());
                if target.resource == "events" {
                    state.event_log.push(object.clone());
                }
                (StatusCode::CREATED, object)
            }
            (Method::PATCH, Some(name)) => {
                let key = target.key(name);
                let existing = state.objects.get(&key).cloned();
                let is_apply = content_type.starts_with("application/apply-patch");
                let mut object = match (existing, is_apply) {
                    (Some(object), _) => object,
                    (None, true) => {
                        json!({"metadata": {"name": name, "namespace": target.namespace}})
                    }
                    (None, false) => return not_found(name),
                };
                let old_spec = object.get("spec").cloned();
                if target.subresource.as_deref() == Some("status") {
                    merge(&mut object["status"], &body["status"]);
                } else if content_type.starts_with("application/json-patch") {
                    let patch = without_null_tests_of_absent_paths(&object, body);
                    let patch: json_patch::Patch =
                        serde_json::from_value(patch).expect("JSON patch");
                    if json_patch::patch(&mut object, &patch).is_err() {
                        return (
                            StatusCode::UNPROCESSABLE_ENTITY,
                            status_body(422, "Invalid", "JSON patch test failed"),
                        );
                    }
                } else {
                    merge(&mut object, &body);
                }
                complete_metadata(&mut object, version);
                if object.get("spec").cloned() != old_spec && target.subresource.is_none() {
                    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
                    object["metadata"]["generation"] = json!(generation + 1);
                }
                let finalizers_gone = object["metadata"]["finalizers"]
                    .as_array()
                    .is_none_or(|f| f.is_empty());
                if object["metadata"]["deletionTimestamp"].is_string() && finalizers_gone {
                    state.objects.remove(&key);
                } else {
                    state.objects.insert(key, object.clone());
                }
                if target.resource == "events" {
                    state.event_log.push(object.clone());
                }
                (StatusCode::OK, object)
            }
            (Method::DELETE, Some(name)) => {
                let key = target.key(name);
                let Some(mut object) = state.objects.get(&key).cloned() else {
                    return not_found(name);
                };
                if object["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty())
                {
                    object["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
                    state.objects.insert(key, object.clone());
                } else {
                    state.objects.remove(&key);
                }
                (StatusCode::OK, object)
            }
            (method, _) => (
                StatusCode::METHOD_NOT_ALLOWED,
                status_body(405, "MethodNotAllowed", method.as_ref()),
            ),
        }
    }
}

/// The API server's JSON patch treats an absent path as null in `test`
/// operations (kube's finalizer helper relies on it); json-patch does not.
fn without_null_tests_of_absent_paths(object: &Value, patch: Value) -> Value {
    let ops = patch
        .as_array()
        .expect("JSON patch is an array")
        .iter()
        .filter(|op| {
            let absent = object.pointer(op["path"].as_str().unwrap_or("")).is_none();
            !(op["op"] == "test" && op["value"].is_null() && absent)
        });
    Value::Array(ops.cloned().collect())
}

fn complete_metadata(object: &mut Value, version: u64) {
    let meta = &mut object["metadata"];
    meta["resourceVersion"] = json!(version.to_string());
    if meta["uid"].is_null() {
        meta["uid"] = json!(format!("uid-{version}"));
    }
    if meta["creationTimestamp"].is_null() {
        meta["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    }
    if meta["generation"].is_null() {
        meta["generation"] = json!(1);
    }
}

/// JSON merge patch (RFC 7386), which is also close enough to what
/// server-side apply does for objects with a single manager.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let object = target.as_object_mut().unwrap();
            for (key, value) in fields {
                if value.is_null() {
                    object.remove(key);
                } else {
                    merge(object.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn matches_selector(object: &Value, selector: &str) -> bool {
    selector.split(',').all(|term| {
        let (key, value) = term.split_once('=').expect("equality selector");
        object["metadata"]["labels"][key].as_str() == Some(value)
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message, "metadata": {}})
}

fn not_found(name: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        status_body(404, "NotFound", &format!("{name} not found")),
    )
}

impl tower::Service<Request<Body>> for FakeApi {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let api = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.expect("request body");
            let content_type = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let (status, value) = api.handle(
                parts.method,
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                &content_type,
                &bytes,
            );
            let response = Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&value).unwrap()))
                .unwrap();
            Ok(response)
        })
    }
}
