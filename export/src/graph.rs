//! A small builder over the ONNX protobuf types of `tract_onnx::pb`: named
//! initializers, single-output nodes, attributes, and the model envelope.

use half::f16;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType,
    tensor_shape_proto::dimension::Value as Dim, tensor_shape_proto::Dimension, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// ONNX opset the exports target (the `Attention` op appeared in 23).
pub const OPSET: i64 = 23;
/// IR version that goes with opset 23 (ONNX 1.18).
pub const IR_VERSION: i64 = 11;

/// The float type of the graph's weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatType {
    F32,
    F16,
}

impl FloatType {
    pub fn onnx(self) -> i32 {
        match self {
            FloatType::F32 => DataType::Float as i32,
            FloatType::F16 => DataType::Float16 as i32,
        }
    }
}

pub struct GraphBuilder {
    pub float: FloatType,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    /// Every tensor name given out so far (initialisers and node outputs).
    names: std::collections::HashSet<String>,
}

pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

impl GraphBuilder {
    pub fn new(float: FloatType) -> Self {
        Self {
            float,
            nodes: Vec::new(),
            inits: Vec::new(),
            // The graph's input and output names are reserved.
            names: ["image", "logits"].map(String::from).into(),
        }
    }

    /// A tensor name from `hint`: the hint itself when free, else `hint#2`, `hint#3`, ….
    /// Names follow the checkpoint's layer names, so the same layer has the same
    /// tensor name at every precision and `utx-edge drift` can compare
    /// activations of fp32 and int8 graphs layer by layer.
    fn fresh(&mut self, hint: &str) -> String {
        let mut name = hint.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            k += 1;
            name = format!("{hint}#{k}");
        }
        self.names.insert(name.clone());
        name
    }

    /// A float constant in the graph's float type.
    pub fn constant(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        assert_eq!(
            dims.iter().product::<usize>(),
            data.len(),
            "constant {name}: shape/data mismatch"
        );
        let raw: Vec<u8> = match self.float {
            FloatType::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            FloatType::F16 => data
                .iter()
                .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                .collect(),
        };
        self.raw_constant(name, dims, self.float.onnx(), raw)
    }

    /// A constant of any ONNX type from its little-endian bytes.
    pub fn raw_constant(
        &mut self,
        name: &str,
        dims: &[usize],
        data_type: i32,
        raw: Vec<u8>,
    ) -> String {
        let name = self.fresh(name);
        self.inits.push(TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type,
            raw_data: raw,
            ..Default::default()
        });
        name
    }

    pub fn const_i64(&mut self, name: &str, data: &[i64]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.raw_constant(name, &[data.len()], DataType::Int64 as i32, raw)
    }

    /// Adds a node with one output, named after `hint`; returns the output name.
    pub fn node(
        &mut self,
        op: &str,
        hint: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        let out = self.fresh(hint);
        self.node_to(op, inputs, &out, attrs);
        out
    }

    /// Adds a node whose output gets a given name.
    pub fn node_to(&mut self, op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) {
        self.names.insert(output.to_string());
        self.nodes.push(NodeProto {
            name: format!("{op}_{output}"),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            attribute: attrs,
            ..Default::default()
        });
    }

    /// Wraps the graph into a model with input `[N, c, h, w]` and output
    /// `[N, k, h, w]`, both float32, and the given metadata.
    pub fn finish(
        self,
        input: (&str, [usize; 3]),
        output: (&str, [usize; 3]),
        metadata: Vec<(String, String)>,
    ) -> ModelProto {
        let value = |name: &str, chw: [usize; 3]| ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: DataType::Float as i32,
                    shape: Some(TensorShapeProto {
                        dim: std::iter::once(Dimension {
                            value: Some(Dim::DimParam("N".into())),
                            ..Default::default()
                        })
                        .chain(chw.iter().map(|&d| Dimension {
                            value: Some(Dim::DimValue(d as i64)),
                            ..Default::default()
                        }))
                        .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "utx-export".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(GraphProto {
                name: "u_transformer".into(),
                node: self.nodes,
                initializer: self.inits,
                input: vec![value(input.0, input.1)],
                output: vec![value(output.0, output.1)],
                ..Default::default()
            }),
            metadata_props: metadata
                .into_iter()
                .map(|(key, value)| StringStringEntryProto { key, value })
                .collect(),
            ..Default::default()
        }
    }
}
