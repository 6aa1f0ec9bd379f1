//! The recorder's own subscriber (`FlightRecorder::subscriber`) leaves the subscriber it
//! wraps working exactly as before for the application's spans and events, with the
//! real crates: `fmt` output, parents, `Span::current()`, `EnvFilter` with span
//! directives, per-layer filters, `downcast_raw` (so `tracing-error` finds its layer),
//! and a span whose id has the recorder's shape. And the recorder sees Tokio's
//! instrumentation whatever the wrapped subscriber's filter says, without the wrapped
//! subscriber ever seeing it.
//!
//! Each test installs its subscriber as the default of its own threads (tests run in
//! parallel), on a current-thread runtime so that output order is deterministic.

mod common;

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use dial9_recorder::FlightRecorder;
use dial9_recorder::format::EventKind;
use tracing::{Instrument as _, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, fmt};

/// A `fmt` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

fn recorder() -> FlightRecorder {
    FlightRecorder::builder()
        .install_panic_hook(false)
        .watchdog(None)
        .build()
        .unwrap()
}

/// Runs `app` on a current-thread runtime (instrumented by `rec` if given) under
/// `dispatch`.
fn run(dispatch: tracing::Dispatch, rec: Option<&FlightRecorder>, app: impl Future<Output = ()>) {
    tracing::dispatcher::with_default(&dispatch, || {
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.enable_all();
        if let Some(rec) = rec {
            rec.instrument(&mut b);
        }
        b.build().unwrap().block_on(app);
    });
}

/// What an application logs: spans with fields, nested, explicit and contextual parents,
/// events at each level, inside tasks and outside.
async fn application() {
    tracing::info!(phase = "start", "service starting");
    let outer = tracing::info_span!("request", id = 7);
    let handle = tokio::spawn(
        async move {
            tracing::info!(user = "ann", "handling");
            let inner = tracing::info_span!("db", table = "users");
            async {
                tracing::warn!(rows = 3, "slow query");
                tracing::debug!("debug detail");
                tracing::trace!("trace detail");
            }
            .instrument(inner)
            .await;
            let root = tracing::info_span!(parent: None, "background");
            root.in_scope(|| tracing::info!("detached"));
            let child = tracing::info_span!(parent: &root, "child");
            tracing::info!(parent: &child, "explicit parent");
            tokio::task::yield_now().await;
        }
        .instrument(outer),
    );
    handle.await.unwrap();
    tracing::error!(code = 500u16, "done");
}

fn fmt_layer<S>(out: &Buffer) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fmt::layer()
        .with_writer(out.clone())
        .without_time()
        .with_ansi(false)
        .with_thread_ids(false)
        .with_thread_names(false)
}

/// The most common setup, a global `EnvFilter("info")` and a `fmt` layer: the same
/// lines with the recorder as without it.
#[test]
fn fmt_output_of_the_application_is_unchanged() {
    let plain = Buffer::default();
    run(
        tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(EnvFilter::new("info"))
                .with(fmt_layer(&plain)),
        ),
        None,
        application(),
    );
    let wrapped = Buffer::default();
    let rec = recorder();
    run(
        tracing::Dispatch::new(
            rec.subscriber(
                tracing_subscriber::registry()
                    .with(EnvFilter::new("info"))
                    .with(fmt_layer(&wrapped)),
            ),
        ),
        Some(&rec),
        application(),
    );
    let (plain, wrapped) = (plain.text(), wrapped.text());
    assert!(
        plain.contains("request{id=7}:db{table=\"users\"}: "),
        "{plain}"
    );
    assert!(plain.contains("background:child: "), "{plain}");
    assert_eq!(wrapped, plain);
}

/// With no filter at all, the wrapped `fmt` layer sees none of Tokio's instrumentation
/// (task spans, waker events, resources): no flood, and the application's lines as
/// they are.
#[test]
fn an_unfiltered_fmt_layer_sees_nothing_of_tokio() {
    let out = Buffer::default();
    let rec = recorder();
    run(
        tracing::Dispatch::new(
            rec.subscriber(tracing_subscriber::registry().with(fmt_layer(&out))),
        ),
        Some(&rec),
        async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(async move { tx.send(()).unwrap() });
            rx.await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            application().await;
        },
    );
    let text = out.text();
    for tokio in [
        "runtime.spawn",
        "tokio::task",
        "waker",
        "runtime.resource",
        "runtime::resource",
    ] {
        assert!(!text.contains(tokio), "{tokio} in:\n{text}");
    }
    assert!(
        text.contains("TRACE") && text.contains("trace detail"),
        "{text}"
    );
    assert!(
        text.contains("request{id=7}:db{table=\"users\"}: "),
        "{text}"
    );
    // And the recorder saw the tasks and their wakes.
    let d = rec.snapshot();
    assert!(
        d.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Wake { .. }))
    );
}

/// The setup a layer cannot serve: with a global `EnvFilter("info")` the recorder's
/// layer never sees Tokio's TRACE callsites; wrapped, the recorder records task names
/// and wakes whatever the inner filter says.
#[test]
fn a_global_info_filter_does_not_blind_the_recorder() {
    let rec = recorder();
    let names: Vec<String> = (0..20).map(|i| format!("named-{i}")).collect();
    let spawn_named = {
        let names = names.clone();
        async move {
            let hs: Vec<_> = names
                .iter()
                .map(|n| {
                    tokio::task::Builder::new()
                        .name(n)
                        .spawn(async { tokio::task::yield_now().await })
                        .unwrap()
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        }
    };
    run(
        tracing::Dispatch::new(
            rec.subscriber(
                tracing_subscriber::registry()
                    .with(EnvFilter::new("info"))
                    .with(fmt::layer().with_writer(std::io::sink)),
            ),
        ),
        Some(&rec),
        spawn_named,
    );
    let d = rec.snapshot();
    assert!(d.header.layer_installed);
    for n in &names {
        assert!(d.tasks.iter().any(|t| &t.name == n), "{n} unnamed");
    }
    let wakes = d
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Wake { .. }))
        .count();
    assert!(wakes >= 20, "{wakes} wakes");
}

/// `Span::current()` inside a task is the application's span, never Tokio's task span;
/// outside any span of the application, it is none.
#[test]
fn span_current_is_the_applications() {
    let rec = recorder();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let seen = seen.clone();
        move |where_: &str| {
            let cur = tracing::Span::current();
            seen.lock()
                .unwrap()
                .push((where_.to_string(), cur.metadata().map(|m| m.name())));
        }
    };
    let r2 = record.clone();
    run(
        tracing::Dispatch::new(rec.subscriber(tracing_subscriber::registry())),
        Some(&rec),
        async move {
            tokio::spawn(async move {
                r2("bare task");
                async { r2("in span") }
                    .instrument(tracing::info_span!("mine"))
                    .await;
            })
            .await
            .unwrap();
            record("block_on");
        },
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("bare task".to_string(), None),
            ("in span".to_string(), Some("mine")),
            ("block_on".to_string(), None),
        ]
    );
}

/// `EnvFilter` span directives (`[request]=debug`): a debug event inside the span is
/// kept, outside dropped, exactly as without the recorder.
#[test]
fn env_filter_span_directives_work() {
    let lines = |wrap: bool| {
        let out = Buffer::default();
        let inner = tracing_subscriber::registry()
            .with(EnvFilter::new("info,[request]=debug"))
            .with(fmt_layer(&out));
        let rec = recorder();
        let dispatch = if wrap {
            tracing::Dispatch::new(rec.subscriber(inner))
        } else {
            tracing::Dispatch::new(inner)
        };
        run(dispatch, wrap.then_some(&rec), async {
            tokio::spawn(async {
                tracing::debug!("outside");
                async { tracing::debug!("inside") }
                    .instrument(tracing::info_span!("request"))
                    .await;
            })
            .await
            .unwrap();
        });
        out.text()
    };
    let plain = lines(false);
    assert!(
        plain.contains("inside") && !plain.contains("outside"),
        "{plain}"
    );
    assert_eq!(lines(true), plain);
}

/// A per-layer filter on the wrapped registry keeps filtering its own layer only.
#[test]
fn per_layer_filters_work() {
    let warn = Buffer::default();
    let all = Buffer::default();
    let rec = recorder();
    run(
        tracing::Dispatch::new(
            rec.subscriber(
                tracing_subscriber::registry()
                    .with(
                        fmt_layer(&warn).with_filter(tracing_subscriber::filter::LevelFilter::WARN),
                    )
                    .with(
                        fmt_layer(&all).with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
                    ),
            ),
        ),
        Some(&rec),
        application(),
    );
    let (warn, all) = (warn.text(), all.text());
    assert!(
        warn.contains("slow query") && !warn.contains("handling"),
        "{warn}"
    );
    assert!(
        all.contains("handling") && all.contains("debug detail"),
        "{all}"
    );
    assert!(!all.contains("trace detail"), "{all}");
}

/// `tracing-error`'s `SpanTrace`, captured inside a task, finds its layer through the
/// recorder's subscriber (`downcast_raw`) and lists the application's spans.
#[test]
fn span_trace_inside_a_task() {
    let rec = recorder();
    let trace = Arc::new(Mutex::new(String::new()));
    let t2 = trace.clone();
    run(
        tracing::Dispatch::new(
            rec.subscriber(
                tracing_subscriber::registry().with(tracing_error::ErrorLayer::default()),
            ),
        ),
        Some(&rec),
        async move {
            tokio::spawn(
                async move {
                    let span = tracing_error::SpanTrace::capture();
                    assert_eq!(span.status(), tracing_error::SpanTraceStatus::CAPTURED);
                    *t2.lock().unwrap() = span.to_string();
                }
                .instrument(tracing::info_span!("outer_work", job = 3)),
            )
            .await
            .unwrap();
        },
    );
    let trace = trace.lock().unwrap().clone();
    assert!(
        trace.contains("outer_work") && trace.contains("job=3"),
        "{trace}"
    );
    assert!(!trace.contains("runtime.spawn"), "{trace}");
}

/// `downcast_ref` through the wrapper reaches the wrapped registry and its layers.
#[test]
fn downcasts_reach_the_wrapped_subscriber() {
    let rec = recorder();
    let dispatch = tracing::Dispatch::new(
        rec.subscriber(tracing_subscriber::registry().with(tracing_error::ErrorLayer::default())),
    );
    assert!(
        dispatch
            .downcast_ref::<tracing_subscriber::Registry>()
            .is_some()
    );
    assert!(
        dispatch
            .downcast_ref::<dial9_recorder::RecorderSubscriber<
                tracing_subscriber::layer::Layered<
                    tracing_error::ErrorLayer<tracing_subscriber::Registry>,
                    tracing_subscriber::Registry,
                >,
            >>()
            .is_some()
    );
}

/// A layer that counts what reaches the wrapped registry.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::Id,
        _: Context<'_, S>,
    ) {
        let m = attrs.metadata();
        self.0
            .lock()
            .unwrap()
            .push(format!("span {} {}", m.target(), m.name()));
    }
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        let m = e.metadata();
        self.0
            .lock()
            .unwrap()
            .push(format!("event {} {}", m.target(), m.name()));
    }
}

/// Nothing of Tokio's instrumentation reaches the wrapped subscriber: no task span, no
/// waker event, no resource span or state update; the application's do.
#[test]
fn the_wrapped_subscriber_never_sees_tokios_instrumentation() {
    let rec = recorder();
    let seen = Seen::default();
    run(
        tracing::Dispatch::new(rec.subscriber(tracing_subscriber::registry().with(seen.clone()))),
        Some(&rec),
        async {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
            tokio::spawn(async move {
                for i in 0..3 {
                    tx.send(i).await.unwrap();
                }
            });
            while rx.recv().await.is_some() {}
            let m = tokio::sync::Mutex::new(0);
            *m.lock().await += 1;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            tokio::task::spawn_blocking(|| ()).await.unwrap();
            tracing::info!("mine");
        },
    );
    let seen = seen.0.lock().unwrap().clone();
    assert!(
        seen.iter().any(|s| s.starts_with("event subscriber ")),
        "{seen:?}"
    );
    for s in &seen {
        assert!(
            !s.contains("tokio::") && !s.contains("runtime"),
            "{s} reached the wrapped subscriber"
        );
    }
    let d = rec.snapshot();
    assert!(
        d.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::TimerArm { .. })),
        "the sleep's deadline"
    );
}

/// A subscriber that numbers its spans with the shape the recorder uses for its own
/// (bit 50, nothing above): its spans are renumbered, and entering, closing and the
/// current span all reach it with its own ids.
#[test]
fn an_inner_subscriber_with_ids_of_the_recorders_shape_keeps_its_spans() {
    use std::sync::atomic::{AtomicU64, Ordering};
    #[derive(Default)]
    struct Odd {
        next: AtomicU64,
        log: Mutex<Vec<String>>,
        stack: Mutex<Vec<(u64, &'static tracing::Metadata<'static>)>>,
        metas: Mutex<std::collections::HashMap<u64, &'static tracing::Metadata<'static>>>,
        refs: Mutex<std::collections::HashMap<u64, usize>>,
    }
    const SHAPE: u64 = 1 << 50;
    impl Subscriber for Odd {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, a: &tracing::span::Attributes<'_>) -> tracing::Id {
            let id = SHAPE | (self.next.fetch_add(1, Ordering::Relaxed) + 1);
            self.metas.lock().unwrap().insert(id, a.metadata());
            self.refs.lock().unwrap().insert(id, 1);
            self.log
                .lock()
                .unwrap()
                .push(format!("new {} {id:#x}", a.metadata().name()));
            tracing::Id::from_u64(id)
        }
        fn record(&self, _: &tracing::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::Id, _: &tracing::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, id: &tracing::Id) {
            let meta = self.metas.lock().unwrap()[&id.into_u64()];
            self.stack.lock().unwrap().push((id.into_u64(), meta));
            self.log
                .lock()
                .unwrap()
                .push(format!("enter {:#x}", id.into_u64()));
        }
        fn exit(&self, id: &tracing::Id) {
            self.stack.lock().unwrap().pop();
            self.log
                .lock()
                .unwrap()
                .push(format!("exit {:#x}", id.into_u64()));
        }
        fn clone_span(&self, id: &tracing::Id) -> tracing::Id {
            *self.refs.lock().unwrap().get_mut(&id.into_u64()).unwrap() += 1;
            id.clone()
        }
        fn try_close(&self, id: tracing::Id) -> bool {
            let mut refs = self.refs.lock().unwrap();
            let n = refs.get_mut(&id.into_u64()).unwrap();
            *n -= 1;
            if *n > 0 {
                return false;
            }
            self.log
                .lock()
                .unwrap()
                .push(format!("close {:#x}", id.into_u64()));
            true
        }
        fn current_span(&self) -> tracing_core::span::Current {
            match self.stack.lock().unwrap().last() {
                Some(&(id, meta)) => {
                    tracing_core::span::Current::new(tracing::Id::from_u64(id), meta)
                }
                None => tracing_core::span::Current::none(),
            }
        }
    }
    let rec = recorder();
    let odd = Arc::new(Odd::default());
    struct Shared(Arc<Odd>);
    impl Subscriber for Shared {
        fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
            self.0.enabled(m)
        }
        fn new_span(&self, a: &tracing::span::Attributes<'_>) -> tracing::Id {
            self.0.new_span(a)
        }
        fn record(&self, s: &tracing::Id, r: &tracing::span::Record<'_>) {
            self.0.record(s, r)
        }
        fn record_follows_from(&self, a: &tracing::Id, b: &tracing::Id) {
            self.0.record_follows_from(a, b)
        }
        fn event(&self, e: &tracing::Event<'_>) {
            self.0.event(e)
        }
        fn enter(&self, s: &tracing::Id) {
            self.0.enter(s)
        }
        fn exit(&self, s: &tracing::Id) {
            self.0.exit(s)
        }
        fn clone_span(&self, s: &tracing::Id) -> tracing::Id {
            self.0.clone_span(s)
        }
        fn try_close(&self, s: tracing::Id) -> bool {
            self.0.try_close(s)
        }
        fn current_span(&self) -> tracing_core::span::Current {
            self.0.current_span()
        }
    }
    let names = Arc::new(Mutex::new(Vec::new()));
    let n2 = names.clone();
    run(
        tracing::Dispatch::new(rec.subscriber(Shared(odd.clone()))),
        Some(&rec),
        async move {
            tokio::spawn(async move {
                let span = tracing::info_span!("odd_one");
                let _g = span.enter();
                let cur = tracing::Span::current();
                n2.lock().unwrap().push(cur.metadata().map(|m| m.name()));
            })
            .await
            .unwrap();
        },
    );
    assert_eq!(*names.lock().unwrap(), [Some("odd_one")]);
    let log = odd.log.lock().unwrap().clone();
    let id = format!("{:#x}", SHAPE | 1);
    assert_eq!(
        log,
        [
            format!("new odd_one {id}"),
            format!("enter {id}"),
            format!("exit {id}"),
            format!("close {id}"),
        ]
    );
    // Tokio's spans never reached it.
    assert!(log.iter().all(|l| !l.contains("runtime.spawn")));
    let _ = std::io::stderr().flush();
}

/// The subscriber and the hooks keep the whole recorder alive: with the user's handle
/// dropped at the end of a setup function, a panic still dumps, and the recorder goes
/// away (its crash-surviving ring file with it) once they do.
#[test]
fn the_subscriber_and_the_hooks_keep_the_recorder_alive() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, rt, ring) = {
        let rec = FlightRecorder::builder()
            .watchdog(None)
            .persist_ring(dir.path())
            .dump_path(format!(
                "{}/kept-{{pid}}-{{time}}.bin",
                dir.path().display()
            ))
            .build()
            .unwrap();
        let ring = rec.ring_path().unwrap().to_path_buf();
        let dispatch = tracing::Dispatch::new(rec.subscriber(tracing_subscriber::registry()));
        let mut b = tokio::runtime::Builder::new_current_thread();
        FlightRecorder::instrument(&rec, &mut b);
        (dispatch, b.build().unwrap(), ring)
    };
    tracing::dispatcher::with_default(&dispatch, || {
        rt.block_on(async { tokio::spawn(async {}).await.unwrap() })
    });
    let panicked = std::thread::spawn(|| panic!("planted: the handle is gone")).join();
    assert!(panicked.is_err());
    let dumps: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("kept-"))
        .collect();
    assert_eq!(dumps.len(), 1, "the panic hook found the recorder");
    drop(rt);
    assert!(ring.exists(), "the subscriber still holds it");
    drop(dispatch);
    assert!(!ring.exists(), "nothing holds it: its ring file is removed");
}
