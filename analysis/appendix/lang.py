"""The appendix's words in each language it is written in: one catalogue, one section code.

Sections ask :func:`tr` for every sentence, header and caption by key and fill in the
numbers; a new language is a new column here, never a copy of a section. Keys missing
in a language fall back to English, so a half-translated catalogue still builds.

:data:`GLOSSARY` pairs the paper's own terms (Chinese, as the paper writes them) with the
English renderings used throughout the English appendix; the Chinese appendix prints it.
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "tr", "GLOSSARY", "param_label", "output_label", "method_name", "distribution_text",
           "figure_words"]

#: Languages an appendix can be written in (``[report] languages`` in the study file).
LANGUAGES = ("en", "zh")

_T: dict[str, dict[str, str]] = {
    # -- the Chinese appendix's frame ---------------------------------------------------
    "title": {"en": "Robustness appendix: {name}", "zh": "稳健性附录：{name}"},
    "generated": {
        "en": "Generated from run {run}. Every number below is read from that run directory, "
              "and the appendix is rebuilt from it alone.",
        "zh": "本附录由运行 {run} 生成。下文的每一个数字都读自该运行目录，附录也仅凭该目录重建。"},
    "zh_scope": {
        "en": "",
        "zh": "本中文附录包括：标题结论的概率、不确定输入、假设变动下的稳健性、论断与观察，以及术语表。"
              "敏感性指数、收敛、三角验证、情景发现与运行记录的完整表格见同一目录中的英文附录（appendix.pdf）。"},
    "headline_h": {"en": "Uncertainty of the headline outputs", "zh": "标题结论的不确定性"},
    "headline_sentence": {
        "en": "“{claim}” holds in {p} of draws ({level} interval {interval})",
        "zh": "“{claim}”在 {p} 的抽样中成立（{level} 区间 {interval}）"},
    "headline_drivers": {"en": "; its total-order variance is driven mainly by {drivers}.",
                         "zh": "；其总效应方差主要来自{drivers}。"},
    "headline_caption": {"en": "Probability that each headline result holds ({level} interval).",
                         "zh": "各标题结论成立的概率（{level} 区间）。"},
    "full_stop": {"en": ".", "zh": "。"},
    "list_sep": {"en": "; ", "zh": "；"},
    # Interval methods as analysis.proportion names them.
    "Student-t interval across replicate designs": {"en": "Student-t interval across replicate designs",
                                                    "zh": "重复设计间的 Student-t 区间"},
    "Wilson score interval": {"en": "Wilson score interval", "zh": "Wilson 得分区间"},
    "fig_probability": {"en": "Probability that each headline result holds, with its {level} interval.",
                        "zh": "各标题结论成立的概率及其 {level} 区间。"},
    "fig_distribution": {"en": "Distribution of {what} over the independent draws.",
                         "zh": "{what}在独立抽样上的分布。"},
    "col_result": {"en": "Result", "zh": "结论"},
    "col_p": {"en": "P(holds)", "zh": "成立概率"},
    "col_interval": {"en": "Interval", "zh": "区间"},
    "col_method": {"en": "Interval method", "zh": "区间方法"},
    "factors_h": {"en": "Uncertain inputs", "zh": "不确定输入"},
    "factors_para": {
        "en": "{n} inputs are uncertain. Each is sampled from the distribution shown.",
        "zh": "共有 {n} 个不确定输入，各自从所列分布中抽样。"},
    "factors_caption": {"en": "Uncertain inputs and their distributions.",
                        "zh": "不确定输入及其分布。"},
    "col_input": {"en": "Input", "zh": "输入"},
    "col_distribution": {"en": "Distribution", "zh": "分布"},
    "col_source": {"en": "Source", "zh": "出处"},
    "glossary_h": {"en": "Glossary", "zh": "术语表"},
    "glossary_para": {"en": "The paper's terms and the English renderings used in the English appendix.",
                      "zh": "论文中的术语及英文附录所用的对应译法。"},
    "glossary_caption": {"en": "Terms of the paper.", "zh": "论文术语对照。"},
    "col_term": {"en": "Term", "zh": "术语"},
    "col_english": {"en": "English", "zh": "英文"},
    # -- assumption-shift robustness ----------------------------------------------------
    "rob_h": {"en": "Assumption-shift robustness", "zh": "假设变动下的稳健性"},
    "rob_intro": {
        "en": "How each headline moves when the distribution of one of its leading inputs (the "
              "largest total-order indices) changes, estimated from the {n} independent draws of "
              "this run by importance reweighting (each draw weighted by the shifted density over "
              "the sampling density), without re-running the model. A centre shift of ±5% or ±10% "
              "of an input's range moves a triangle's mode or a normal's mean; a uniform's mean is "
              "moved by moving its opposite end inward, since the run never drew outside its range. "
              "“Narrowed” removes 20% of the range, half from each end. ESS is Kish's effective "
              "sample size; an ESS below {threshold} is marked “low”. The break-even "
              "shift is the smallest centre shift of an input that carries the headline across "
              "{crossing}.",
        "zh": "当某一主要输入（总效应指数最大者）的分布改变时，各标题结论如何变化。估计来自本次运行的 {n} "
              "个独立抽样，采用重要性重加权（每个抽样按变动后密度与抽样密度之比加权），无需重新运行模型。"
              "中心移动 ±5% 或 ±10%（以输入取值范围为单位）即移动三角分布的众数或正态分布的均值；"
              "均匀分布的均值则通过向内移动其另一端来移动，因为本次运行从未在其范围之外抽样。"
              "“收窄”指从两端各去掉范围的 10%，共 20%。ESS 为 Kish 有效样本量；ESS 低于 {threshold} "
              "时标为“过低”。临界移动指使标题结论越过{crossing}所需的最小中心移动。"},
    "crossing_both": {"en": "50% (a probability) or 0 (a mean)", "zh": " 50%（概率）或 0（均值）"},
    "rob_none": {"en": "This run cannot be reweighted ({why}); section omitted.",
                 "zh": "本次运行无法重加权（{why}）；本节从略。"},
    "rob_no_lead": {"en": "{what}: no Sobol' total-order indices in indices.nc; no leading inputs to shift.",
                    "zh": "{what}：indices.nc 中没有 Sobol 总效应指数，无法确定要变动的主要输入。"},
    "rob_base_p": {"en": "“{claim}” holds in {value} of draws in this run.",
                   "zh": "在本次运行中，“{claim}”在 {value} 的抽样中成立。"},
    "rob_base_mean": {"en": "The mean of “{claim}” is {value} in this run.",
                      "zh": "在本次运行中，“{claim}”的均值为 {value}。"},
    "rob_be_found": {"en": "{input}: a centre shift of {fraction} of its range ({shift}) brings it to {value} "
                           "(ESS {ess})",
                     "zh": "{input}：中心移动其范围的 {fraction}（{shift}）即可使其达到 {value}（ESS {ess}）"},
    "rob_be_none": {"en": "{input}: not within the reweightable range (centre shifts from {low} to {high} of "
                          "its range do not reverse it)",
                    "zh": "{input}：在可重加权范围内无法逆转（中心移动从 {low} 到 {high} 均不足以逆转）"},
    "rob_be_lead": {"en": "Break-even shifts: {items}.", "zh": "临界移动：{items}。"},
    "rob_caption": {"en": "“{what}” when the distributions of its leading inputs shift (importance "
                          "reweighting of this run).",
                    "zh": "主要输入分布变动时的“{what}”（本次运行的重要性重加权）。"},
    "rob_joint_caption": {
        "en": "“{what}” under joint centre shifts of {first} (rows) and {second} (columns), as shares of "
              "their ranges; * marks an ESS below {threshold}, – a shift outside the sampled range.",
        "zh": "{first}（行）与{second}（列）同时中心移动（以各自范围为单位）时的“{what}”；* 表示 ESS 低于 "
              "{threshold}，– 表示超出抽样范围。"},
    "rob_joint_corner": {"en": "{first} (rows) × {second} (columns)", "zh": "{first}（行）× {second}（列）"},
    "col_shift": {"en": "Shift", "zh": "变动"},
    "col_estimate_p": {"en": "P", "zh": "概率"},
    "col_estimate_mean": {"en": "Mean", "zh": "均值"},
    "col_ess": {"en": "ESS", "zh": "ESS"},
    "shift_centre": {"en": "centre {c}: {change}", "zh": "中心 {c}：{change}"},
    "shift_narrow": {"en": "narrowed 20%: {change}", "zh": "收窄 20%：{change}"},
    "shift_none": {"en": "{kind}: outside the sampled range (needs a re-run)",
                   "zh": "{kind}：超出抽样范围（需重新运行）"},
    "note_low_ess": {"en": "low", "zh": "过低"},
    "shift_range": {"en": "range {c} (re-run): {change}", "zh": "范围移动 {c}（重新运行）：{change}"},
    "rob_rerun_para": {
        "en": "A move of an input's whole range (“range ±5%” or “±10%”: its bounds, mode or mean moved by that "
              "share of the range) reaches values this run never drew, so it cannot be reweighted; those rows "
              "come from re-runs of the model at the moved range (independent Latin-hypercube draws, N of them).",
        "zh": "输入整个范围的移动（“范围移动 ±5%”或“±10%”：其上下界、众数或均值按范围的该比例移动）会到达本次运行"
              "从未抽样的取值，因而无法重加权；这些行来自在移动后范围下重新运行模型的结果（N 个独立的拉丁超立方抽样）。"},
    "rerun_n": {"en": "re-run (N = {n})", "zh": "重新运行（N = {n}）"},
    "low_ess_para": {"en": "Estimates whose ESS is marked “low” rest on a few heavily weighted draws; a direct re-run at the "
                           "shifted distribution would be more reliable.",
                     "zh": "ESS 标为“过低”的估计依赖少数权重很大的抽样；在变动后的分布下直接重新运行会更可靠。"},
    # -- claims and observations --------------------------------------------------------
    "claims_h": {"en": "Claims and observations", "zh": "论断与观察"},
    "claims_none": {"en": "No output of this run is declared a claim or an observation (attribute role); "
                          "section omitted.",
                    "zh": "本次运行没有被声明为论断或观察的输出（属性 role）；本节从略。"},
    "claims_intro": {
        "en": "Each claim of the paper that the model encodes is a 0/1 output; its probability is the share "
              "of draws over the input distributions in which it holds. Tested claims can fail; built-in "
              "claims are implementation checks that the calibration guarantees, and are reported apart.",
        "zh": "模型所编码的论文中的每一条论断都是一个取值 0/1 的输出；其概率是在输入分布上的抽样中该论断成立的比例。"
              "受检验的论断可能不成立；内置论断是校准所保证的实现检查，单独报告。"},
    "claims_tested_h": {"en": "Tested claims", "zh": "受检验的论断"},
    "claims_builtin_h": {"en": "Implementation checks (built in by the calibration)",
                         "zh": "实现检查（由校准内置）"},
    "claims_caption_tested": {"en": "Tested claims of the paper: probability that each holds ({level} interval).",
                              "zh": "受检验的论文论断：各自成立的概率（{level} 区间）。"},
    "claims_caption_builtin": {"en": "Implementation checks: probability that each holds ({level} interval).",
                               "zh": "实现检查：各自成立的概率（{level} 区间）。"},
    "col_claim": {"en": "Claim", "zh": "论断"},
    "col_section": {"en": "Section", "zh": "章节"},
    "col_passage": {"en": "Passage", "zh": "原文"},
    "claim_fails": {"en": "The tested claim “{statement}” ({section}) fails: it holds in only {p} of draws "
                          "({interval}).",
                    "zh": "受检验的论断“{statement}”（{section}）不成立：它仅在 {p} 的抽样中成立（{interval}）。"},
    "claims_all_hold": {"en": "Every tested claim holds in at least half of the draws.",
                        "zh": "每一条受检验的论断都在至少一半的抽样中成立。"},
    "obs_h": {"en": "Observations and the readings they support", "zh": "观察及其所支持的解读"},
    "obs_intro": {
        "en": "Each observation the paper reports is a 0/1 output: its probability under the main run "
              "(the paper's reading) and under each variant run. An observation supports the reading "
              "under which it is most probable; the ratio is that probability over the main reading's.",
        "zh": "论文所报告的每一项观察都是一个取值 0/1 的输出：列出其在主运行（论文的解读）及各变体运行下的概率。"
              "一项观察支持使其概率最高的解读；比值为该概率与主解读下概率之比。"},
    "obs_caption": {"en": "Probability of each observation under each reading.",
                    "zh": "各解读下每项观察的概率。"},
    "col_observation": {"en": "Observation", "zh": "观察"},
    "col_reading": {"en": "Reading", "zh": "解读"},
    "col_supports": {"en": "Supports", "zh": "支持"},
    "col_ratio": {"en": "Ratio", "zh": "比值"},
    "obs_main": {"en": "{name} (this run)", "zh": "{name}（本次运行）"},
    "obs_supports_main": {"en": "“{statement}” is most probable under the main reading ({p}); the "
                                "nearest rival, {rival}, gives {rp}.",
                          "zh": "“{statement}”在主解读下最为可能（{p}）；最接近的对立解读 {rival} 给出 {rp}。"},
    "obs_supports_rival": {"en": "“{statement}” supports {rival}: {rp} against {p} under the main "
                                 "reading (ratio {ratio}).",
                           "zh": "“{statement}”支持 {rival}：其概率为 {rp}，主解读下为 {p}（比值 {ratio}）。"},
    "obs_no_variants": {"en": "No variant runs were compared for this run, so only the main reading's "
                              "probabilities are shown.",
                        "zh": "本次运行未比较任何变体运行，因此只列出主解读下的概率。"},
    "obs_missing_variants": {"en": "{n} of the variant runs this run was compared with are not beside it (under "
                                   "{root}/, as its variants/compare.csv names them: a moved or copied run "
                                   "directory?), so their probabilities are not shown.",
                             "zh": "与本次运行比较过的变体运行中有 {n} 个不在其旁（按 variants/compare.csv，应在 "
                                   "{root}/ 下：运行目录是否被移动或复制？），因此未列出它们的概率。"},
    "ratio_inf": {"en": "main reading 0", "zh": "主解读为 0"},
}

#: Distribution and argument names of the study file, in each language (else as written).
_DIST_WORDS = {"zh": {"uniform": "均匀分布", "triangular": "三角分布", "normal": "正态分布",
                      "truncnormal": "截断正态分布", "lognormal": "对数正态分布", "loguniform": "对数均匀分布",
                      "low": "下限", "high": "上限", "mode": "众数", "mean": "均值", "sd": "标准差",
                      "meanlog": "对数均值", "sdlog": "对数标准差"}}


def distribution_text(distribution: str, args: dict, lang: str) -> str:
    """``triangular: low 0.05, mode 0.2, high 0.6`` in ``lang`` (``三角分布：下限 0.05, …``)."""
    words = _DIST_WORDS.get(lang, {})
    parts = ", ".join(f"{words.get(k, k)} {v:g}" if isinstance(v, (int, float)) else f"{words.get(k, k)} {v}"
                      for k, v in args.items())
    return f"{words.get(distribution, distribution)}{'：' if lang == 'zh' else ': '}{parts}"


#: The paper's terms: (Chinese, English rendering).
GLOSSARY = (
    ("亚太化", "Asia-Pacification (of NATO)"),
    ("牵连", "entrapment"),
    ("卷入", "entrapment (being drawn in)"),
    ("抛弃", "abandonment"),
    ("区别对待", "differentiated treatment"),
    ("合而治之", "combine-and-rule"),
    ("分而治之", "divide-and-rule"),
    ("战略自主", "strategic autonomy"),
    ("边际损失", "marginal losses"),
)


def tr(lang: str, key: str, **values) -> str:
    """The catalogue's text for ``key`` in ``lang``, with ``values`` filled in.

    Falls back to English where ``lang`` has no entry (never to a key name).
    """
    entry = _T[key]
    return entry.get(lang, entry["en"]).format(**values)


def param_label(data, name: str, lang: str) -> str:
    """A parameter's label in ``lang``: ``label_zh`` from the study file, else its label."""
    if lang != "en":
        own = data.study.get("parameters", {}).get(name, {}).get(f"label_{lang}")
        if own:
            return str(own)
    return data.labels.get(name, name)


def output_label(data, name: str, lang: str, english: str) -> str:
    """An output's label in ``lang`` (its ``label_<lang>`` attribute), else ``english``."""
    if lang != "en" and name in data.results:
        own = data.results[name].attrs.get(f"label_{lang}")
        if own:
            return str(own)
    return english


def method_name(method: str, lang: str) -> str:
    """An interval method's name (as :mod:`analysis.proportion` gives it) in ``lang``."""
    head, sep, rest = str(method).partition(" (")
    return (tr(lang, head) if head in _T else head) + (sep + rest if sep else "")


#: The uncertainty figures' words (``analysis.figures.uncertainty.WORDS``) in each language
#: but English, and the names of the flagship's worlds and phases.
_FIGURE_WORDS = {"zh": {"band": "5–95% 的抽样", "median": "中位数 {v}", "mean": "均值 {v}",
                        "share": "{p} 的抽样 > 0", "density": "密度", "p_axis": "结论成立的概率（{level} 区间）",
                        "coords": {"war": "有战争", "no_war": "无战争", "pre": "战前", "post": "战后"}}}


def figure_words(lang: str) -> dict | None:
    """The words of the headline and distribution figures in ``lang`` (None: English).

    Examples
    --------
    >>> figure_words("zh")["density"], figure_words("en")
    ('密度', None)
    """
    return _FIGURE_WORDS.get(lang)
