#version 330 core
// bwot headlight shader (fragment stage): Lambertian light at the camera, two-sided (raw meshes have
// inconsistent winding), no specular. Grey level = ambient + diffuse * |cos(normal, direction to camera)|.
uniform vec3 cam_pos;

in vec3 frag_position;
in vec3 frag_normal;

out vec4 frag_color;

const float AMBIENT = 0.12;
const float DIFFUSE = 0.68;

void main()
{
    vec3 n = normalize(frag_normal);
    vec3 l = normalize(cam_pos - frag_position);
    float grey = AMBIENT + DIFFUSE * abs(dot(n, l));
    frag_color = vec4(grey, grey, grey, 1.0);
}
