import ModelIR
