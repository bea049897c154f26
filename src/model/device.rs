//! Choosing the compute device, once, from a user's spec string.

use std::fmt;
use std::str::FromStr;

use candle_core::{Device, DeviceLocation};

/// A device could not be selected.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The spec string is not one of the accepted forms.
    #[error("unknown device {0:?} (expected auto, cpu, cuda, cuda:N or metal)")]
    Unknown(String),
    /// A GPU backend was asked for, but this binary was built without it.
    #[error(
        "{backend} was requested, but this build has no {backend} support (rebuild with `--features {feature}`, or use --device cpu)"
    )]
    NotBuilt {
        /// "CUDA" or "Metal".
        backend: &'static str,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// The backend is built in but the device could not be opened.
    #[error("cannot open {spec}: {source}")]
    Open {
        /// The requested device.
        spec: DeviceSpec,
        /// candle's error.
        source: candle_core::Error,
    },
}

/// A parsed device request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// CUDA 0 when built with `cuda` and present, else Metal 0 likewise, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// A CUDA GPU by ordinal.
    Cuda(usize),
    /// A Metal GPU by ordinal.
    Metal(usize),
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let ordinal = |rest: &str| {
            rest.parse::<usize>()
                .map_err(|_| DeviceError::Unknown(s.to_string()))
        };
        Ok(match t.as_str() {
            "auto" => DeviceSpec::Auto,
            "cpu" => DeviceSpec::Cpu,
            "cuda" | "gpu" => DeviceSpec::Cuda(0),
            "metal" => DeviceSpec::Metal(0),
            _ => match t.split_once(':') {
                Some(("cuda", n)) => DeviceSpec::Cuda(ordinal(n)?),
                Some(("metal", n)) => DeviceSpec::Metal(ordinal(n)?),
                _ => return Err(DeviceError::Unknown(s.to_string())),
            },
        })
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Metal(n) => write!(f, "metal:{n}"),
        }
    }
}

/// Opens the device `spec` names: `auto`, `cpu`, `cuda`, `cuda:N` or `metal` (`metal:N`).
/// `auto` falls back to the CPU when no GPU backend is built in or none can be opened; an
/// explicit GPU request fails with a readable error instead.
pub fn select_device(spec: &str) -> Result<Device, DeviceError> {
    let spec: DeviceSpec = spec.parse()?;
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Auto => Ok(auto_device()),
        DeviceSpec::Cuda(n) => {
            if !candle_core::utils::cuda_is_available() {
                return Err(DeviceError::NotBuilt {
                    backend: "CUDA",
                    feature: "cuda",
                });
            }
            Device::new_cuda(n).map_err(|source| DeviceError::Open { spec, source })
        }
        DeviceSpec::Metal(n) => {
            if !candle_core::utils::metal_is_available() {
                return Err(DeviceError::NotBuilt {
                    backend: "Metal",
                    feature: "metal",
                });
            }
            Device::new_metal(n).map_err(|source| DeviceError::Open { spec, source })
        }
    }
}

fn auto_device() -> Device {
    if candle_core::utils::cuda_is_available() {
        match Device::new_cuda(0) {
            Ok(d) => return d,
            Err(e) => tracing::warn!("CUDA is built in but unusable, trying others: {e}"),
        }
    }
    if candle_core::utils::metal_is_available() {
        match Device::new_metal(0) {
            Ok(d) => return d,
            Err(e) => tracing::warn!("Metal is built in but unusable, using the CPU: {e}"),
        }
    }
    Device::Cpu
}

/// Short name of a device for logs and reports: `cpu`, `cuda:0`, `metal:0`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "cpu".into(),
        DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        for (s, want) in [
            ("auto", DeviceSpec::Auto),
            ("CPU", DeviceSpec::Cpu),
            (" cuda ", DeviceSpec::Cuda(0)),
            ("cuda:1", DeviceSpec::Cuda(1)),
            ("metal", DeviceSpec::Metal(0)),
            ("metal:2", DeviceSpec::Metal(2)),
        ] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap(), want, "{s}");
        }
        for bad in ["", "tpu", "cuda:", "cuda:x", "cuda:-1", "cpu:0"] {
            let err = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(err.to_string().contains("expected auto"), "{bad}: {err}");
        }
        assert_eq!(DeviceSpec::Cuda(3).to_string(), "cuda:3");
    }

    #[test]
    fn cpu_and_auto_always_work() {
        assert!(select_device("cpu").unwrap().is_cpu());
        let auto = select_device("auto").unwrap();
        if !candle_core::utils::cuda_is_available() && !candle_core::utils::metal_is_available() {
            assert!(auto.is_cpu());
        }
        assert_eq!(device_name(&Device::Cpu), "cpu");
    }

    #[test]
    fn gpu_requests_fail_clearly_in_a_cpu_only_build() {
        if !candle_core::utils::cuda_is_available() {
            let err = select_device("cuda:0").unwrap_err().to_string();
            assert!(err.contains("--features cuda"), "{err}");
        }
        if !candle_core::utils::metal_is_available() {
            let err = select_device("metal").unwrap_err().to_string();
            assert!(err.contains("--features metal"), "{err}");
        }
    }
}
