# The study's bridge to deSolve's aquaphy, a phytoplankton model by Karline Soetaert
# (after Lancelot et al. 1991) shipped in the R package deSolve (?aquaphy). This file only moves numbers:
# it reads the chunk's inputs (CSV with a header, one row per sample), runs the model
# once per row with the example's parameters overridden by the sampled ones, and writes
# one row of outputs per sample in the same order.
#
#   Rscript aquaphy.R INPUTS.csv OUTPUTS.csv
suppressPackageStartupMessages(library(deSolve))

args <- commandArgs(trailingOnly = TRUE)
inputs <- read.csv(args[1])

# The parameter values and initial state of example(aquaphy), Example 1.
defaults <- c(maxPhotoSynt = 0.125, rMortPHY = 0.001, alpha = -0.125 / 150, pExudation = 0.0,
              maxProteinSynt = 0.136, ksDIN = 1.0, minpLMW = 0.05, maxpLMW = 0.15,
              minQuotum = 0.075, maxStorage = 0.23, respirationRate = 0.0001, pResp = 0.4,
              catabolismRate = 0.06, dilutionRate = 0.01, rNCProtein = 0.2, inputDIN = 10.0,
              rChlN = 1, parMean = 250., dayLength = 15.)
state <- c(DIN = 6., PROTEIN = 20.0, RESERVE = 5.0, LMW = 1.0)
times <- seq(0, 24 * 20, by = 24)  # 20 days, reported daily

sampled <- intersect(names(inputs), names(defaults))
run_one <- function(i) {
  parms <- defaults
  parms[sampled] <- unlist(inputs[i, sampled])
  out <- as.data.frame(aquaphy(times, state, parms))
  last <- out[nrow(out), ]
  c(phyto_c = last$PROTEIN + last$RESERVE + last$LMW, chlorophyll = last$Chlorophyll, din = last$DIN)
}
outputs <- t(vapply(seq_len(nrow(inputs)), run_one, numeric(3)))
write.csv(data.frame(sample = inputs$sample, outputs), args[2], row.names = FALSE)
