"""ament_python build of pose_ros.

Estimator backends are found through the ``pose_ros.estimators`` entry-point group and
inference runtimes through ``pose_ros.runtimes``; the built-in ones register themselves
exactly the way a third-party package would (see ``test/plugin_example`` and
``test/runtime_plugin_example``).
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "pose_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={"pose_ros.models": ["manifest.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="pose_ros maintainers",
    maintainer_email="maintainers@pose-ros.dev",
    description="Multi-person 2D human pose estimation for ROS 2 with OpenCV DNN.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            # apps.console: a signal while the node still imports is a quiet exit
            "pose_node = pose_ros.apps.console:pose_node",
            "image_source = pose_ros.apps.console:image_source",
            "pose_recorder = pose_ros.apps.console:pose_recorder",
            "pose_ros_models = pose_ros.models.cli:main",
            "pose_ros_infer = pose_ros.apps.infer_cli:main",
        ],
        "pose_ros.estimators": [
            "openpose_dnn = pose_ros.estimators.openpose_dnn:OpenPoseDnnEstimator",
        ],
        # Forward passes; a third party adds TensorRT or ONNX Runtime the same way.
        "pose_ros.runtimes": [
            "opencv = pose_ros.runtimes.opencv_dnn:OpenCvRuntime",
            "openvino = pose_ros.runtimes.openvino_runtime:OpenVinoRuntime",
            "onnxruntime = pose_ros.runtimes.onnxruntime_runtime:OnnxRuntime",
        ],
    },
)
