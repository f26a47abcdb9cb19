//! The Grafana dashboards in `dashboards/grafana/`. (Being written.)
