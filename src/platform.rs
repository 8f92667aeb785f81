//! What the platform tells this process about itself, read once at start-up from its
//! environment (no network call: start-up to ready is part of what the experiments measure),
//! for the instance id when `--instance-id` is not given.
//!
//! - Kubernetes: the pod name, when the pod passes it through the downward API
//!   (`env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]`); a pod's
//!   host name is its name too, so without `POD_NAME` the host name rule below gives the pod
//!   name plus a suffix.
//! - Knative: `K_REVISION` names the revision; its pods are named `<revision>-deployment-…`,
//!   so a host name that starts with the revision is the pod name and is used as it is.
//! - Cloud Run: `K_REVISION` as well, but the host name is not the instance's; its instance id
//!   lives only on the metadata server (an HTTP call), so the id is the revision plus a random
//!   suffix, unique per instance and readable in a report.
//! - ECS, App Runner, Docker and elsewhere: the host name (a task's private DNS name, a
//!   container id) plus a random suffix, unique even where containers share a host name.

/// The facts the instance id is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    /// `POD_NAME` (Kubernetes downward API).
    pub pod_name: Option<String>,
    /// `K_REVISION` (Knative, Cloud Run).
    pub revision: Option<String>,
    /// `HOSTNAME`, else the kernel's host name.
    pub hostname: String,
}

impl Platform {
    /// Reads the environment of this process.
    pub fn detect() -> Platform {
        let var = |name| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Platform {
            pod_name: var("POD_NAME"),
            revision: var("K_REVISION"),
            hostname: var("HOSTNAME")
                .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_owned()))
                .unwrap_or_default(),
        }
    }

    /// A platform that says only its host name (tests, plain hosts).
    pub fn host(hostname: &str) -> Platform {
        Platform { hostname: hostname.to_owned(), ..Platform::default() }
    }

    /// The instance id this platform gives (see the module docs for each rule).
    pub fn instance_id(&self) -> String {
        if let Some(pod) = self.pod_name.as_deref().map(clean).filter(|p| !p.is_empty()) {
            return pod;
        }
        let host = clean(&self.hostname);
        if let Some(revision) = self.revision.as_deref().map(clean).filter(|r| !r.is_empty()) {
            if host.starts_with(&format!("{revision}-")) {
                return host;
            }
            return suffixed(&revision);
        }
        suffixed(if host.is_empty() { "delay-echo" } else { &host })
    }
}

/// What may appear in a header value and a report: letters, digits, `-`, `.`, `_`; at most 100.
fn clean(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')).take(100).collect()
}

fn suffixed(name: &str) -> String {
    format!("{name}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(pod: Option<&str>, revision: Option<&str>, host: &str) -> Platform {
        Platform { pod_name: pod.map(Into::into), revision: revision.map(Into::into), hostname: host.into() }
    }

    fn has_suffix(id: &str, prefix: &str) -> bool {
        id.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    #[test]
    fn kubernetes_uses_the_pod_name_from_the_downward_api() {
        let p = platform(Some("delay-echo-7d9f8b6c5-x2x9q"), None, "delay-echo-7d9f8b6c5-x2x9q");
        assert_eq!(p.instance_id(), "delay-echo-7d9f8b6c5-x2x9q");
        assert_eq!(p.instance_id(), p.instance_id(), "no random part");
    }

    #[test]
    fn knative_uses_its_pod_name_and_cloud_run_the_revision_plus_a_suffix() {
        let knative = platform(None, Some("echo-00003"), "echo-00003-deployment-6b7c9d-abcde");
        assert_eq!(knative.instance_id(), "echo-00003-deployment-6b7c9d-abcde");
        let cloud_run = platform(None, Some("echo-00003-kax"), "localhost");
        let id = cloud_run.instance_id();
        assert!(has_suffix(&id, "echo-00003-kax"), "{id}");
        assert_ne!(cloud_run.instance_id(), id, "two instances of a revision differ");
    }

    #[test]
    fn elsewhere_the_host_name_plus_a_suffix() {
        let id = Platform::host("ip-10-0-1-23.ec2.internal").instance_id();
        assert!(has_suffix(&id, "ip-10-0-1-23.ec2.internal"), "{id}");
        assert!(has_suffix(&Platform::host("").instance_id(), "delay-echo"));
        assert!(has_suffix(&Platform::host("a b/c").instance_id(), "abc"), "only header-safe characters");
        assert!(has_suffix(&platform(Some(" "), Some(""), "h").instance_id(), "h"), "empty values are absent");
    }
}
