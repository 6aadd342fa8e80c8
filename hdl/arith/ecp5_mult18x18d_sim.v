// Behavioural simulation model of the Lattice ECP5 MULT18X18D sysDSP multiplier, in the
// registered mode systolix instantiates (hdl/arith/ecp5_mac.py). SIMULATION ONLY: synthesis
// (yosys synth_ecp5, vendor tools) must use the vendor cell, never this file.
//
// Reference: Lattice Semiconductor, "ECP5 and ECP5-5G sysDSP Usage Guide", FPGA-TN-02205
// (formerly TN1267), MULT18X18D primitive: an 18x18 multiplier with optional input
// registers on A, B and C, an optional pipeline register and an optional output register,
// each with its clock (REG_*_CLK: CLK0..CLK3 or NONE), clock enable (REG_*_CE: CE0..CE3) and
// reset (REG_*_RST: RST0..RST3) selected by parameters; SIGNEDA/SIGNEDB select two's
// complement operands and travel with their operand through the input register.
//
// Modelled mode (a parameter outside it stops the simulation at time 0):
//   REG_INPUTA_CLK, REG_INPUTB_CLK, REG_PIPELINE_CLK, REG_OUTPUT_CLK = "CLK0" or "NONE"
//   REG_INPUTC_CLK = "NONE" (C unused); REG_*_CE = "CE0"
//   CAS_MATCH_REG = "FALSE", MULT_BYPASS = "DISABLED", HIGHSPEED_CLK = "NONE"
// Only the pins systolix connects are ports here (A, B, SIGNEDA, SIGNEDB, CLK0, CE0, P),
// so a simulator reports any other connection instead of silently ignoring it: no resets
// (the REG_*_RST and RESETMODE parameters are accepted and have nothing to act on), no C
// input, no shift/cascade path (SOURCEA/SOURCEB, SRIA/SRIB, SROA/SROB) and no ROA/ROB/ROC or
// SIGNEDP outputs. GSR is not modelled: the registers start at 0.
// systolix uses: A, B and output registers on CLK0, all on CE0 (tied high); no pipeline
// register; GSR "DISABLED".
//
// Timing in that mode: P in cycle t+2 is A(t) * B(t).
module MULT18X18D (
    input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input SIGNEDA, SIGNEDB,
    input CLK0, CE0,
    output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24,
    output P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12,
    output P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0
);
    // Every parameter of the vendor cell is accepted, so that any instance elaborates; the
    // ones outside the modelled mode are checked below or have nothing to act on here.
    /* verilator lint_off UNUSEDPARAM */
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_INPUTC_CE = "CE0";
    parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED";
    parameter CLK1_DIV = "ENABLED";
    parameter CLK2_DIV = "ENABLED";
    parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED";
    parameter RESETMODE = "SYNC";
    /* verilator lint_on UNUSEDPARAM */

    // --- mode checks ----------------------------------------------------------------------
    function automatic clk_ok(input [8*8-1:0] sel);
        clk_ok = (sel == "NONE") || (sel == "CLK0");
    endfunction
    function automatic ce_ok(input [8*8-1:0] sel);
        ce_ok = sel == "CE0";
    endfunction
    initial begin
        if (!clk_ok(REG_INPUTA_CLK) || !clk_ok(REG_INPUTB_CLK) || !clk_ok(REG_PIPELINE_CLK)
                || !clk_ok(REG_OUTPUT_CLK) || REG_INPUTC_CLK != "NONE")
            $fatal(1, "MULT18X18D model: registers must be on CLK0 or NONE (C unused)");
        if (!ce_ok(REG_INPUTA_CE) || !ce_ok(REG_INPUTB_CE) || !ce_ok(REG_PIPELINE_CE)
                || !ce_ok(REG_OUTPUT_CE))
            $fatal(1, "MULT18X18D model: clock enables must be CE0");
        if (CAS_MATCH_REG != "FALSE" || MULT_BYPASS != "DISABLED" || HIGHSPEED_CLK != "NONE")
            $fatal(1, "MULT18X18D model: only CAS_MATCH_REG=FALSE, MULT_BYPASS=DISABLED, ",
                   "HIGHSPEED_CLK=NONE are modelled");
    end

    // Every register is enabled by CE0 (the mode check above allows no other enable).
    wire a_ce = CE0;
    wire b_ce = CE0;
    wire pipe_ce = CE0;
    wire out_ce = CE0;

    wire [17:0] a_in = {A17, A16, A15, A14, A13, A12, A11, A10, A9,
                        A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b_in = {B17, B16, B15, B14, B13, B12, B11, B10, B9,
                        B8, B7, B6, B5, B4, B3, B2, B1, B0};

    // --- input registers (the sign controls travel with their operand) ----------------------
    reg [18:0] a_reg = 19'd0;  // {SIGNEDA, A}
    reg [18:0] b_reg = 19'd0;  // {SIGNEDB, B}
    always @(posedge CLK0) begin
        if (a_ce) a_reg <= {SIGNEDA, a_in};
        if (b_ce) b_reg <= {SIGNEDB, b_in};
    end
    wire [18:0] a_op = REG_INPUTA_CLK == "NONE" ? {SIGNEDA, a_in} : a_reg;
    wire [18:0] b_op = REG_INPUTB_CLK == "NONE" ? {SIGNEDB, b_in} : b_reg;

    // --- multiplier: operands extended to 19 bits by their sign control, 36-bit product ----
    wire signed [18:0] a_ext = {a_op[18] & a_op[17], a_op[17:0]};
    wire signed [18:0] b_ext = {b_op[18] & b_op[17], b_op[17:0]};
    wire signed [37:0] full = a_ext * b_ext;
    wire [35:0] product = full[35:0];

    // --- pipeline and output registers ------------------------------------------------------
    reg [35:0] pipe_reg = 36'd0;
    always @(posedge CLK0)
        if (pipe_ce) pipe_reg <= product;
    wire [35:0] piped = REG_PIPELINE_CLK == "NONE" ? product : pipe_reg;
    reg [35:0] out_reg = 36'd0;
    always @(posedge CLK0)
        if (out_ce) out_reg <= piped;
    wire [35:0] result = REG_OUTPUT_CLK == "NONE" ? piped : out_reg;

    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24,
            P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12,
            P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = result;
endmodule
