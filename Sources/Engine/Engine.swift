// Engine — tensors, layers, losses, optimizers, data sets and training on the CPU
// with OpenBLAS. It takes plain values and knows nothing about YAML or plans.
