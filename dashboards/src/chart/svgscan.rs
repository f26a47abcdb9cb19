//! A tiny scanner over the SVG text the charts produce, for unit tests: find elements by
//! an attribute, read a path's points, recover the y scale from the axis labels. It
//! knows only the subset of SVG these modules write.

use maud::Markup;

/// The produced markup as text.
pub struct Svg(String);

impl Svg {
    pub fn new(m: Markup) -> Self {
        Svg(m.into_string())
    }

    pub fn text(&self) -> &str {
        &self.0
    }

    /// Occurrences of `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.0.matches(needle).count()
    }

    /// Every start tag (`<name …>`) that contains `attr`, in document order.
    pub fn tags_where(&self, attr: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = self.0[from..].find(attr) {
            let at = from + at;
            let open = self.0[..at].rfind('<').expect("inside a tag");
            let close = at + self.0[at..].find('>').expect("tag ends");
            out.push(&self.0[open..=close]);
            from = close;
        }
        out
    }

    /// The whole first element (start tag to its matching end tag) whose start tag
    /// contains `attr`.
    pub fn element_where(&self, attr: &str) -> String {
        self.elements_where(attr)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element with {attr}"))
    }

    /// Every element whose start tag contains `attr`.
    pub fn elements_where(&self, attr: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = self.0[from..].find(attr) {
            let at = from + at;
            let open = self.0[..at].rfind('<').expect("inside a tag");
            let name: String = self.0[open + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            let (start_tag, end_tag) = (format!("<{name}"), format!("</{name}>"));
            let mut depth = 0usize;
            let mut i = open;
            let end = loop {
                let next_open = self.0[i + 1..].find(&start_tag).map(|p| p + i + 1);
                let next_close = self.0[i + 1..].find(&end_tag).map(|p| p + i + 1);
                match (next_open, next_close) {
                    (Some(o), Some(c)) if o < c => {
                        depth += 1;
                        i = o;
                    }
                    (_, Some(c)) if depth == 0 => break c + end_tag.len(),
                    (_, Some(c)) => {
                        depth -= 1;
                        i = c;
                    }
                    _ => panic!("unclosed <{name}>"),
                }
            };
            out.push(self.0[open..end].to_owned());
            from = end;
        }
        out
    }

    /// The `d` of the first `<path>` whose tag contains `attr`.
    pub fn path_where(&self, attr: &str) -> PathInfo {
        let tag = self
            .tags_where(attr)
            .into_iter()
            .find(|t| t.starts_with("<path"))
            .unwrap_or_else(|| panic!("no path with {attr}"));
        PathInfo {
            d: attr_value(tag, "d").expect("path has d"),
        }
    }

    /// The value → y map the y axis labels imply (fitted through the first and last
    /// tick label).
    pub fn y_scale(&self) -> impl Fn(f64) -> f64 {
        let ticks: Vec<(f64, f64)> = self
            .elements_where("class=\"tick-y\"")
            .iter()
            .map(|e| {
                let y: f64 = attr_value(e, "y").unwrap().parse().unwrap();
                let label = inner_text(e);
                let v = parse_label(&label);
                (v, y - 3.5)
            })
            .collect();
        assert!(ticks.len() >= 2, "y ticks");
        let (a, b) = (ticks[0], ticks[ticks.len() - 1]);
        move |v| a.1 + (v - a.0) / (b.0 - a.0) * (b.1 - a.1)
    }

    /// `(x, y, width, height)` of the first `<rect>` in `element`.
    pub fn rect_in(&self, element: &str) -> (f64, f64, f64, f64) {
        let at = element.find("<rect").expect("a rect");
        let tag = &element[at..at + element[at..].find('>').unwrap()];
        let n = |a| attr_value(tag, a).unwrap().parse::<f64>().unwrap();
        (n("x"), n("y"), n("width"), n("height"))
    }
}

/// A tick or bar label as a number: `0.85`, `12%` (→ 0.12), `$1.2k`, `3 ms`.
pub fn parse_label(label: &str) -> f64 {
    let s = label.trim().trim_start_matches('$');
    let (s, k) = if let Some(p) = s.strip_suffix('%') {
        (p, 0.01)
    } else if let Some(p) = s.strip_suffix('k') {
        (p, 1e3)
    } else {
        (s.trim_end_matches(" ms"), 1.0)
    };
    s.parse::<f64>().unwrap_or_else(|_| panic!("label {label}")) * k
}

/// The value of attribute `name` in the first tag of `tag`.
pub fn attr_value(tag: &str, name: &str) -> Option<String> {
    let end = tag.find('>').unwrap_or(tag.len());
    let head = &tag[..end];
    let key = format!(" {name}=\"");
    let at = head.find(&key)? + key.len();
    let len = head[at..].find('"')?;
    Some(head[at..at + len].to_owned())
}

/// The text inside an element, tags removed.
pub fn inner_text(element: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in element.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// A path's `d`, read back.
pub struct PathInfo {
    pub d: String,
}

impl PathInfo {
    /// `(command, numbers)` in order.
    fn commands(&self) -> Vec<(char, Vec<f64>)> {
        let mut out: Vec<(char, Vec<f64>)> = Vec::new();
        let mut num = String::new();
        let flush = |num: &mut String, out: &mut Vec<(char, Vec<f64>)>| {
            if !num.is_empty() {
                out.last_mut().unwrap().1.push(num.parse().unwrap());
                num.clear();
            }
        };
        for c in self.d.chars() {
            match c {
                c if c.is_ascii_alphabetic() => {
                    flush(&mut num, &mut out);
                    out.push((c, Vec::new()));
                }
                ' ' => flush(&mut num, &mut out),
                '-' if !num.is_empty() => {
                    flush(&mut num, &mut out);
                    num.push('-');
                }
                c => num.push(c),
            }
        }
        flush(&mut num, &mut out);
        out
    }

    /// Number of subpaths (`M`s).
    pub fn runs(&self) -> usize {
        self.d.matches('M').count()
    }

    /// The absolute points given by `M`, `L` and `l` commands, in order.
    pub fn vertices(&self) -> Vec<(f64, f64)> {
        self.walk()
            .into_iter()
            .filter(|(c, _)| "MLl".contains(*c))
            .map(|(_, p)| p)
            .collect()
    }

    /// Number of `M`/`L` points.
    pub fn points(&self) -> usize {
        self.vertices().len()
    }

    pub fn first_point(&self) -> (f64, f64) {
        self.vertices()[0]
    }

    pub fn ys(&self) -> Vec<f64> {
        self.vertices().into_iter().map(|p| p.1).collect()
    }

    /// The `(x, y)` pen positions after each drawing command (`M`, `L`, `l`, `H`, `V`).
    pub fn pen(&self) -> Vec<(f64, f64)> {
        self.walk().into_iter().map(|(_, p)| p).collect()
    }

    /// `(command, absolute pen position after it)` for each point-setting command.
    fn walk(&self) -> Vec<(char, (f64, f64))> {
        let mut at = (0.0, 0.0);
        let mut out = Vec::new();
        // Rounding to tenths as the writer does, so sums of steps compare exactly.
        let r = |v: f64| (v * 10.0).round() / 10.0;
        for (c, n) in self.commands() {
            match c {
                'M' | 'L' => {
                    for p in n.chunks(2) {
                        at = (p[0], p[1]);
                        out.push((c, at));
                    }
                }
                'l' => {
                    for p in n.chunks(2) {
                        at = (r(at.0 + p[0]), r(at.1 + p[1]));
                        out.push((c, at));
                    }
                }
                'H' => {
                    at.0 = n[0];
                    out.push((c, at));
                }
                'V' => {
                    at.1 = n[0];
                    out.push((c, at));
                }
                _ => {}
            }
        }
        out
    }
}
