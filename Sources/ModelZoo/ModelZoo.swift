// ModelZoo — pure descriptions of the architectures tlc knows: named layers and
// blocks, shape inference, parameter and FLOP counts. It owns no tensors and no
// BLAS; the engine instantiates these descriptions, the front end checks specs
// against them, the planner estimates compute with them.
